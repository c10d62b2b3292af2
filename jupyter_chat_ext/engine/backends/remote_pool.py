"""Remote endpoints: their configuration, model discovery, keys, breakers and one I/O loop thread.

``Settings.remote_endpoints`` entries: ``{"name", "base_url", "api_key_env"?, "api_key"?,
"models"?, "timeout_s"?, "context_length"?}``. Models come from the endpoint's ``GET /models``
(cached for ``LIST_TTL_S``) or from ``models`` when the server cannot list them (``transformers
serve`` answers 500 there). Keys are read from the environment (or the config) when a request is
sent; they are never put in a model dict, an error message or a log line.

All streaming requests of all endpoints run on one private asyncio loop thread with one shared
``httpx.AsyncClient`` (connection reuse), so the sync ``generate`` path and the async ``stream``
path behave the same and cancelling is a thread-safe ``future.cancel()``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ...errors import Conflict, InvalidInput, Unavailable
from ..registry import ModelInfo
from .circuit import CircuitBreaker

log = logging.getLogger(__name__)

LIST_TTL_S = 30.0
#: discovery must never hold up a model list for long: a dead host costs at most this
DISCOVERY_TIMEOUT_S = 3.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class EndpointConfig:
    name: str
    base_url: str
    api_key_env: str | None = None
    api_key: str | None = field(default=None, repr=False)
    models: list[str] = field(default_factory=list)
    timeout_s: float = 60.0
    context_length: int | None = None

    @classmethod
    def from_dict(cls, data: Any) -> EndpointConfig:
        if not isinstance(data, dict):
            raise InvalidInput(f"each remote endpoint must be a JSON object, got {str(data)[:80]!r}")
        known = {"name", "base_url", "api_key_env", "api_key", "models", "timeout_s", "context_length"}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"unknown remote endpoint keys: {', '.join(sorted(unknown))}")
        name, url = data.get("name"), data.get("base_url")
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidInput(f"remote endpoint name must match {_NAME.pattern}, got {name!r}")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput(f"remote endpoint '{name}' needs an http(s) base_url")
        try:  # port 99999 made every request raise outside httpx.HTTPError (a hang before)
            parts = urlsplit(url)
            parts.port  # noqa: B018  (raises ValueError when out of range)
        except ValueError as exc:
            raise InvalidInput(
                f"remote endpoint '{name}': base_url {url[:100]!r} is not usable: {exc}"
            ) from None
        if not parts.hostname:
            raise InvalidInput(f"remote endpoint '{name}': base_url {url[:100]!r} names no host")
        for key in ("api_key_env", "api_key"):
            if data.get(key) is not None and not isinstance(data.get(key), str):
                raise InvalidInput(f"remote endpoint '{name}': {key} must be a string")
        models = data.get("models") or []
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise InvalidInput(f"remote endpoint '{name}': models must be a list of names")
        timeout = data.get("timeout_s", 60.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            raise InvalidInput(f"remote endpoint '{name}': timeout_s must be in (0, 3600]")
        ctx = data.get("context_length")
        return cls(
            name=name,
            base_url=url.rstrip("/"),
            api_key_env=data.get("api_key_env") or None,
            api_key=data.get("api_key") or None,
            models=list(models),
            timeout_s=float(timeout),
            context_length=int(ctx) if isinstance(ctx, int) and ctx > 0 else None,
        )

    def headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        key = key or self.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}


class Endpoint:
    """One configured endpoint: its breaker and its cached model list."""

    def __init__(self, config: EndpointConfig) -> None:
        self.config = config
        self.name = config.name
        self.breaker = CircuitBreaker()
        self._lock = threading.Lock()
        self._listed: dict[str, dict[str, Any]] = {}
        self._listed_at = 0.0

    def unavailable(self, why: str | None = None) -> Unavailable:
        why = why or self.breaker.last_error or "it does not answer"
        wait = max(1.0, self.breaker.retry_in())
        return Unavailable(
            f"remote endpoint '{self.name}' is unavailable: {why}",
            code="endpoint_unavailable",
            retry_after=wait,
        )

    def _fetch(self) -> dict[str, dict[str, Any]]:
        import httpx

        url = f"{self.config.base_url}/models"
        timeout = httpx.Timeout(DISCOVERY_TIMEOUT_S)
        try:
            resp = httpx.get(url, headers=self.config.headers(), timeout=timeout)
        except Exception as exc:  # httpx.HTTPError, and what is not one (InvalidURL, OSError, ...)
            self.breaker.failure(f"{type(exc).__name__} on GET /models")
            raise self.unavailable() from None
        if resp.status_code >= 500:
            self.breaker.failure(f"GET /models answered HTTP {resp.status_code}")
            raise self.unavailable()
        self.breaker.success()  # it answers: the host is alive even if it cannot list models
        try:
            data = resp.json().get("data") if resp.status_code == 200 else None
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            raise self.unavailable(f"GET /models answered HTTP {resp.status_code} without a model list")
        return {str(m["id"]): m for m in data if isinstance(m, dict) and m.get("id")}

    def models(self, *, wait: bool) -> dict[str, dict[str, Any]]:
        """Model name -> the endpoint's entry. Raises Unavailable when it cannot be asked."""
        if self.config.models:
            return {m: {"id": m} for m in self.config.models}
        with self._lock:
            fresh = time.monotonic() - self._listed_at < LIST_TTL_S
            cached = self._listed
        if fresh:
            return cached
        if not self.breaker.allow():
            if cached and not wait:
                return cached
            raise self.unavailable()
        listed = self._fetch()
        with self._lock:
            self._listed, self._listed_at = listed, time.monotonic()
        return listed

    def info(self, model: str, entry: dict[str, Any]) -> ModelInfo:
        ctx = self.config.context_length or entry.get("max_model_len") or entry.get("context_length")
        meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        ctx = ctx or meta.get("n_ctx_train")
        return ModelInfo(
            id=f"{self.name}/{model}",
            kind="chat",
            source="remote",
            format="remote",
            path=self.config.base_url,
            context_length=int(ctx) if isinstance(ctx, int) else None,
            chat_template=True,  # the endpoint applies its own
            description=f"'{model}' on remote endpoint '{self.name}'",
            extra={"endpoint": self.name, "remote_model": model},
        )


class RemotePool:
    def __init__(self, configs: list[dict[str, Any]]) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        #: configured endpoints that were skipped, each ``{"endpoint", "error"}``: one bad entry used
        #: to fail the whole core (every route 503); now it is reported (health, /models, the log)
        self.rejected: list[dict[str, str]] = []
        for index, raw in enumerate(configs if isinstance(configs, list) else [configs]):
            name = raw.get("name") if isinstance(raw, dict) else None
            label = name if isinstance(name, str) and name else f"#{index + 1}"
            try:
                cfg = EndpointConfig.from_dict(raw)
                if cfg.name in self.endpoints:
                    raise InvalidInput(f"two remote endpoints are named '{cfg.name}': the second is skipped")
            except InvalidInput as exc:
                self.rejected.append({"endpoint": label[:80], "error": exc.message})
                log.error("jupyter_chat_ext: remote endpoint %s skipped: %s", label[:80], exc.message)
                continue
            self.endpoints[cfg.name] = Endpoint(cfg)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None
        self._start_lock = threading.Lock()

    # -- discovery ----------------------------------------------------------------------------
    def owns(self, model_id: str) -> bool:
        return model_id.split("/", 1)[0] in self.endpoints and "/" in model_id

    def model_infos(self) -> list[ModelInfo]:
        out: list[ModelInfo] = []
        for ep in self.endpoints.values():
            try:
                listed = ep.models(wait=False)
            except Unavailable as exc:
                log.info("remote endpoint %s: %s", ep.name, exc.message)
                continue
            out.extend(ep.info(name, entry) for name, entry in listed.items())
        return out

    def lookup(self, model_id: str) -> ModelInfo | None:
        """The model's info, None if its endpoint does not serve it; Unavailable when it is down."""
        name, model = model_id.split("/", 1)
        ep = self.endpoints[name]
        entry = ep.models(wait=True).get(model)
        return ep.info(model, entry) if entry is not None else None

    # -- run-time changes (providers added from the UI: jupyter_chat_ext/providers/) ------------
    def add_endpoint(self, raw: dict[str, Any]) -> None:
        """Serve one more endpoint (validated like a configured one; 400 if bad, 409 if taken)."""
        cfg = EndpointConfig.from_dict(raw)
        with self._start_lock:
            if cfg.name in self.endpoints:
                raise Conflict(f"a remote endpoint is already named '{cfg.name}'")
            # copy on write: model_infos() iterates the dict on other threads without a lock
            self.endpoints = {**self.endpoints, cfg.name: Endpoint(cfg)}

    def remove_endpoint(self, name: str) -> bool:
        """Stop serving ``name`` (False if unknown); its loaded runtimes keep their own reference."""
        with self._start_lock:
            if name not in self.endpoints:
                return False
            self.endpoints = {k: v for k, v in self.endpoints.items() if k != name}
            return True

    # -- the I/O loop ---------------------------------------------------------------------------
    def run(self, coro: Any) -> Future[Any]:
        """Schedule ``coro`` on the pool's loop thread (started on first use)."""
        with self._start_lock:
            if self._loop is None:
                ready = threading.Event()

                def main() -> None:
                    self._loop = asyncio.new_event_loop()
                    asyncio.set_event_loop(self._loop)
                    ready.set()
                    self._loop.run_forever()

                self._thread = threading.Thread(target=main, name="chat-ext-remote", daemon=True)
                self._thread.start()
                ready.wait()
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def client(self) -> Any:
        """The shared AsyncClient (call on the pool's loop)."""
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=64))
        return self._client

    def close(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if self._client is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._client.aclose(), loop).result(5)
            except Exception:  # pragma: no cover - closing is best effort
                pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = self._client = None
