"""Providers: the saved ones merged with the configured endpoints, applied to the engine at once.

``Settings.remote_endpoints`` (``jupyter_server_config.py``) stay as they are and are listed as
read-only (``source: "config"``); providers added from the UI or ``%chat provider add`` are
``source: "user"``: saved in the providers file (``config_file.py``), their key in the keyring or
named by an environment variable (``keys.py``), and added to / removed from the engine's
``RemotePool`` at run time, so their models show in the model picker without a restart.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from ..errors import Conflict, InvalidInput, NotFound
from .config_file import ProvidersFile
from .keys import KeyStore
from .presets import PRESET_IDS, PRESETS
from .probe import probe

log = logging.getLogger(__name__)

#: the same names RemotePool accepts (a model id is "<name>/<model>")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
#: a person adds a handful; the cap keeps a runaway client from growing the file and the model list
MAX_PROVIDERS = 32
MAX_MODELS = 200
FIELDS = frozenset(
    {"name", "base_url", "api_key", "api_key_env", "models", "timeout_s", "preset", "clear_key"}
)
TEST_FIELDS = frozenset({"base_url", "api_key", "api_key_env", "model", "models", "timeout_s"})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _base_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 2000:
        raise InvalidInput(
            "base_url must be an http(s) URL such as http://localhost:11434/v1", code="invalid_value"
        )
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError:
        raise InvalidInput(f"base_url has a bad port: {value[:80]!r}", code="invalid_value") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise InvalidInput(
            f"base_url must be an http(s) URL with a host, got {value[:80]!r}", code="invalid_value"
        )
    if parts.username or parts.password:
        raise InvalidInput(
            "base_url must not carry a user or password: give a key instead", code="invalid_value"
        )
    return url


def _api_key(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= 4096
        or any(ord(c) < 33 or ord(c) == 127 for c in value)
    ):
        raise InvalidInput("api_key must be 1-4096 printable characters without spaces", code="invalid_value")
    return value


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not ENV_NAME.match(value):
        raise InvalidInput(
            "api_key_env must be an environment variable name such as OPENAI_API_KEY", code="invalid_value"
        )
    return value


def _models(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # "a, b" from a form field or a magic
        value = [m.strip() for m in value.split(",") if m.strip()]
    ok = isinstance(value, list) and len(value) <= MAX_MODELS
    if not ok or not all(isinstance(m, str) and 0 < len(m) <= 200 and "\n" not in m for m in value):
        raise InvalidInput(f"models must be a list of at most {MAX_MODELS} model names", code="invalid_value")
    return list(dict.fromkeys(value))


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise InvalidInput("timeout_s must be a number of seconds in (0, 3600]", code="invalid_value")
    return float(value)


def _check_fields(body: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid_type")
    unknown = set(body) - allowed
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}", code="invalid_value")
    if body.get("api_key") and body.get("api_key_env"):
        raise InvalidInput("give either api_key or api_key_env, not both", code="invalid_value")
    return body


class ProviderService:
    """The providers of one core; every method is thread-safe and blocking (call off the loop)."""

    def __init__(self, settings: Any, engine: Any = None, *, keys: KeyStore | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.keys = keys or KeyStore()
        self.file = ProvidersFile(getattr(settings, "providers_file", None))
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}
        #: saved providers that could not be applied (a clash with a configured name, a bad entry)
        self.problems: list[str] = []
        self._config = [e for e in settings.remote_endpoints or [] if isinstance(e, dict)]
        self._config_names = {str(e.get("name")) for e in self._config}

    # -- start ----------------------------------------------------------------------------------
    def start(self) -> ProviderService:
        """Read the providers file and add every saved provider to the engine (bad ones noted)."""
        try:
            saved = self.file.load()
        except (OSError, ValueError) as exc:
            self.problems.append(f"cannot read {self.file.path}: {exc}")
            log.error("jupyter_chat_ext: cannot read the providers file %s: %s", self.file.path, exc)
            return self
        with self._lock:
            for rec in saved:
                name = str(rec.get("name"))
                try:
                    if name in self._config_names:
                        raise Conflict(f"a configured remote endpoint is also named '{name}'")
                    self._validate_record(rec)
                    self._attach(rec)
                except Exception as exc:
                    self.problems.append(f"provider '{name}': {getattr(exc, 'message', exc)}")
                    log.error(
                        "jupyter_chat_ext: provider %s not applied: %s", name, getattr(exc, "message", exc)
                    )
                    continue
                self._records[name] = rec
        return self

    @staticmethod
    def _validate_record(rec: dict[str, Any]) -> None:
        if not NAME.match(str(rec.get("name"))):
            raise InvalidInput("bad name")
        _base_url(rec.get("base_url"))
        if rec.get("key") == "env":
            _env_name(rec.get("api_key_env"))

    # -- reading ----------------------------------------------------------------------------------
    def _public(self, rec: dict[str, Any]) -> dict[str, Any]:
        """What a door may show: never the key, only where it comes from and whether it is there."""
        kind = rec.get("key") or "none"
        if kind == "env":
            key_set = bool(os.environ.get(str(rec.get("api_key_env"))))
        elif kind == "keyring":
            key_set = self.keys.get(rec["name"]) is not None
        else:
            key_set = False
        return {
            "name": rec["name"],
            "base_url": rec["base_url"],
            "source": "user",
            "editable": True,
            "key": kind,
            "api_key_env": rec.get("api_key_env") if kind == "env" else None,
            "key_set": key_set,
            "models": list(rec.get("models") or []),
            "timeout_s": rec.get("timeout_s", 60.0),
            "preset": rec.get("preset"),
            "created_at": rec.get("created_at"),
            "updated_at": rec.get("updated_at"),
        }

    def _public_config(self, e: dict[str, Any]) -> dict[str, Any]:
        env = e.get("api_key_env") or None
        kind = "env" if env else "config" if e.get("api_key") else "none"
        return {
            "name": str(e.get("name")),
            "base_url": str(e.get("base_url") or ""),
            "source": "config",
            "editable": False,
            "key": kind,
            "api_key_env": env,
            "key_set": bool(os.environ.get(env)) if env else kind == "config",
            "models": [m for m in e.get("models") or [] if isinstance(m, str)],
            "timeout_s": e.get("timeout_s", 60.0),
            "preset": None,
        }

    def list(self) -> dict[str, Any]:
        with self._lock:
            user = [self._public(r) for r in self._records.values()]
        return {
            "providers": [*(self._public_config(e) for e in self._config), *user],
            "presets": PRESETS,
            "keyring": self.keys.status(),
            "file": str(self.file.path),
            "problems": list(self.problems),
        }

    def get(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._record(name))

    def _record(self, name: str) -> dict[str, Any]:
        rec = self._records.get(name)
        if rec is None:
            if name in self._config_names:
                raise Conflict(
                    f"'{name}' is configured in jupyter_server_config (remote_endpoints): change it there",
                    code="conflict",
                )
            raise NotFound(f"no provider '{name}'")
        return rec

    # -- changes ------------------------------------------------------------------------------------
    def add(self, body: Any) -> dict[str, Any]:
        body = _check_fields(body, FIELDS - {"clear_key"})
        name = body.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise InvalidInput(
                f"name must match {NAME.pattern} (it prefixes the model ids)", code="invalid_value"
            )
        rec: dict[str, Any] = {"name": name, "base_url": _base_url(body.get("base_url")), "key": "none"}
        self._fill(rec, body)
        key = _api_key(body["api_key"]) if body.get("api_key") else None
        with self._lock:
            if name in self._records or name in self._config_names:
                raise Conflict(f"a provider named '{name}' exists already", code="conflict")
            if len(self._records) >= MAX_PROVIDERS:
                raise Conflict(f"at most {MAX_PROVIDERS} providers; remove one first", code="conflict")
            if key is not None:
                self.keys.set(name, key)  # raises (nothing written) when there is no keyring
                rec.update(key="keyring", api_key_env=None)
            rec["created_at"] = rec["updated_at"] = _now()
            try:
                self._attach(rec)  # the engine checks it as a configured endpoint, before any write
                try:
                    self._save({**self._records, name: rec})
                except BaseException:
                    self._detach(name)
                    raise
            except BaseException:
                if key is not None:
                    self.keys.delete(name)
                raise
            self._records[name] = rec
            return self._public(rec)

    def update(self, name: str, body: Any) -> dict[str, Any]:
        body = _check_fields(body, FIELDS)
        if "name" in body and body["name"] != name:
            raise InvalidInput(
                "a provider cannot be renamed: remove it and add it again", code="invalid_value"
            )
        with self._lock:
            old = self._record(name)
            rec = dict(old)
            if "base_url" in body:
                rec["base_url"] = _base_url(body["base_url"])
            self._fill(rec, body)
            key = _api_key(body["api_key"]) if body.get("api_key") else None
            if body.get("clear_key"):
                rec.update(key="none", api_key_env=None)
            if key is not None:
                self.keys.set(name, key)
                rec.update(key="keyring", api_key_env=None)
            rec["updated_at"] = _now()
            self._detach(name)
            try:
                self._attach(rec)  # checked by the engine before the file changes
                self._save({**self._records, name: rec})
            except BaseException:
                self._detach(name)
                self._attach(old)  # the old settings keep serving
                raise
            if old.get("key") == "keyring" and rec.get("key") != "keyring":
                self.keys.delete(name)
            self._records[name] = rec
            return self._public(rec)

    def remove(self, name: str) -> dict[str, Any]:
        with self._lock:
            self._record(name)
            rest = {k: v for k, v in self._records.items() if k != name}
            self._save(rest)
            self._records = rest
            self.keys.delete(name)
            self._detach(name)
        return {"deleted": name}

    @staticmethod
    def _fill(rec: dict[str, Any], body: dict[str, Any]) -> None:
        """The optional fields of an add or an edit (validated; the key is handled by the caller)."""
        if "models" in body:
            rec["models"] = _models(body["models"])
        if body.get("timeout_s") is not None:
            rec["timeout_s"] = _timeout(body["timeout_s"])
        if "preset" in body:
            preset = body["preset"]
            if preset is not None and preset not in PRESET_IDS:
                raise InvalidInput(
                    f"preset must be one of {', '.join(sorted(PRESET_IDS))}", code="invalid_value"
                )
            rec["preset"] = preset
        if body.get("api_key_env"):
            rec.update(key="env", api_key_env=_env_name(body["api_key_env"]))

    def _save(self, records: dict[str, dict[str, Any]]) -> None:
        self.file.save(list(records.values()))

    # -- the engine -----------------------------------------------------------------------------------
    def _endpoint(self, rec: dict[str, Any]) -> dict[str, Any]:
        """The RemotePool entry of a provider; the key is read here and lives only in memory."""
        entry: dict[str, Any] = {"name": rec["name"], "base_url": rec["base_url"]}
        if rec.get("models"):
            entry["models"] = list(rec["models"])
        if rec.get("timeout_s"):
            entry["timeout_s"] = float(rec["timeout_s"])
        if rec.get("key") == "env":
            entry["api_key_env"] = rec["api_key_env"]
        elif rec.get("key") == "keyring":
            key = self.keys.get(rec["name"])
            if key:
                entry["api_key"] = key
        return entry

    def _attach(self, rec: dict[str, Any]) -> None:
        if self.engine is not None:
            self.engine.remote_pool.add_endpoint(self._endpoint(rec))

    def _detach(self, name: str) -> None:
        """Unload the provider's loaded models (their runtimes hold the old endpoint), drop it."""
        if self.engine is None:
            return
        for model_id in self.engine.loaded_models():
            if model_id.startswith(f"{name}/"):
                try:
                    self.engine.unload(model_id)
                except Exception as exc:  # an unload that fails must not keep the old endpoint
                    log.warning("provider %s: unloading %s failed: %s", name, model_id, exc)
        self.engine.remote_pool.remove_endpoint(name)

    # -- the Test button --------------------------------------------------------------------------------
    def test(self, name: str, body: Any = None) -> dict[str, Any]:
        """List models and stream a short answer: a saved provider, or the form's draft (``body``)."""
        body = _check_fields(body or {}, TEST_FIELDS)
        with self._lock:
            rec = self._records.get(name)
            config = next((e for e in self._config if e.get("name") == name), None)
        if rec is None and config is None and not body.get("base_url"):
            raise NotFound(f"no provider '{name}' (give base_url to test one before saving it)")
        saved = self._endpoint(rec) if rec is not None else dict(config or {})
        base_url = _base_url(body["base_url"]) if body.get("base_url") else _base_url(saved.get("base_url"))
        if body.get("api_key"):
            key: str | None = _api_key(body["api_key"])
        elif body.get("api_key_env"):
            key = os.environ.get(_env_name(body["api_key_env"])) or None
        else:
            env = saved.get("api_key_env")
            key = (os.environ.get(env) if env else None) or saved.get("api_key")
        model = body.get("model")
        if model is not None and (not isinstance(model, str) or not 0 < len(model) <= 200):
            raise InvalidInput("model must be a model name", code="invalid_value")
        models = _models(body["models"]) if "models" in body else list(saved.get("models") or [])
        timeout = (
            _timeout(body["timeout_s"])
            if body.get("timeout_s") is not None
            else float(saved.get("timeout_s") or 30.0)
        )
        result = probe(base_url, key, model=model, models=models, timeout_s=timeout)
        result["name"] = name
        if result.get("model"):
            result["model_id"] = f"{name}/{result['model']}"
        return result
