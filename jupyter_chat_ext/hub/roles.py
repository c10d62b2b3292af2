"""Which model does what: the chat default, inline completion, embeddings, reranking (GET|PUT /roles).

The server's config gives the defaults (``Settings.default_model``, ``inline_model``,
``embedding_model``, ``rerank_model``); a choice made in the sidebar or with ``%chat roles`` is
saved in ``<data_dir>/roles.json`` and laid over them, at start (``apply_saved_roles``, called by
``build_core``) and at once when changed (the engine reads these Settings fields per request).

Inline completion's model when nobody chose one: a pulled code model with fill-in-the-middle
tokens (the completion then sees the text after the cursor too), the smallest of them (ghost text
must come while the user pauses), else the chat model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..settings import Settings

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..rag.service import RagService

log = logging.getLogger(__name__)

ROLE_FIELDS = {
    "chat": "default_model",
    "inline": "inline_model",
    "embedding": "embedding_model",
    "rerank": "rerank_model",
}
#: roles that may be null (null: inline falls back as above, rerank is off)
NULLABLE = ("inline", "rerank")
#: the registry kinds each role takes
ROLE_KINDS = {"chat": ("chat",), "inline": ("chat",), "embedding": ("embedding",), "rerank": ("rerank",)}
#: seconds the inline default is reused: inline completion asks on every keystroke
INLINE_CACHE_S = 10.0


def roles_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "roles.json"


def read_saved(settings: Settings) -> dict[str, Any]:
    """The saved choices (only the known roles); a broken file is logged and ignored."""
    path = roles_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("jupyter_chat_ext: ignoring %s: %s", path, exc)
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ROLE_FIELDS and (isinstance(v, str) or v is None)}


def _write_saved(settings: Settings, data: dict[str, Any]) -> None:
    path = roles_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)  # a crash never leaves half a file


def apply_saved_roles(settings: Settings) -> None:
    """Lay ``roles.json`` over the config's Settings (at start, before the engine exists)."""
    for role, value in read_saved(settings).items():
        if value is None and role not in NULLABLE:
            continue
        if role == "rerank" and value:
            value = rerank_spec(settings, value)
        setattr(settings, ROLE_FIELDS[role], value)


def rerank_spec(settings: Settings, model_id: str, path: str | None = None) -> str:
    """What ``Settings.rerank_model`` holds for a reranker chosen by model id.

    RAG's ``make_reranker`` (rag/rerank.py) takes a reranker ``.gguf`` path or
    ``<endpoint>/<model>``; a pulled or local GGUF is therefore given by its file's path (found
    in its pull manifest or the model folders when the registry is not there yet, at start).
    """
    if path:
        return path
    from .pull_store import find_installed, model_dir

    hub_dir = getattr(settings, "hub_dir", None)
    manifest = find_installed(Path(hub_dir), model_id) if hub_dir else None
    if manifest and manifest.get("file"):
        return str(model_dir(Path(hub_dir), model_id) / Path(str(manifest["file"])).name)
    for folder in getattr(settings, "model_dirs", None) or []:
        for f in Path(folder).glob("*.gguf"):
            if f.stem.strip().lower().replace(" ", "-") == model_id:  # the registry's id of a local GGUF
                return str(f)
    return model_id  # "<endpoint>/<model>", or a path already


# -- facts about models ---------------------------------------------------------------------------
def model_field(model: Any, key: str) -> Any:
    """A field of a model entry (a ``list_models`` dict or a ``ModelInfo``), looked up in ``extra`` too."""
    if isinstance(model, dict):
        value = model.get(key)
        extra = model.get("extra") or {}
    else:
        value = getattr(model, key, None)
        extra = getattr(model, "extra", None) or {}
    return value if value is not None else (extra.get(key) if isinstance(extra, dict) else None)


@lru_cache(maxsize=256)
def _gguf_fim(path: str, mtime_ns: int) -> bool:
    from ..engine.fim import fim_ids_from_gguf

    try:
        return fim_ids_from_gguf(path) is not None
    except Exception:
        return False


def has_fim(model: Any) -> bool:
    """Whether a GGUF model declares fill-in-the-middle tokens (read from its header, cached)."""
    if model_field(model, "format") != "gguf":
        return False
    path = str(model_field(model, "path") or "")
    try:
        return _gguf_fim(path, os.stat(path).st_mtime_ns)
    except OSError:
        return False


def pulled_fim_model(models: list[Any]) -> str | None:
    """The smallest pulled chat model with FIM tokens (None when there is none)."""
    found = [
        m
        for m in models
        if model_field(m, "source") == "hub" and model_field(m, "kind") == "chat" and has_fim(m)
    ]
    best = min(found, key=lambda m: int(model_field(m, "size_bytes") or 0), default=None)
    return None if best is None else str(model_field(best, "id"))


#: per engine (weakly: a test's next engine may reuse a freed one's id): when, and what was found
_inline_cache: weakref.WeakKeyDictionary[Any, tuple[float, str]] = weakref.WeakKeyDictionary()
_inline_lock = threading.Lock()


def inline_model(engine: Engine) -> str:
    """The model inline completion uses when the request names none (blocking, cached briefly)."""
    settings = engine.settings
    chosen = getattr(settings, "inline_model", None)
    if chosen:
        return str(chosen)
    now = time.monotonic()
    with _inline_lock:
        hit = _inline_cache.get(engine)
        if hit is not None and now - hit[0] < INLINE_CACHE_S:
            return hit[1] if hit[1] else settings.default_model
    found = pulled_fim_model(engine.registry.all())
    with _inline_lock:
        _inline_cache[engine] = (time.monotonic(), found or "")
    return found or settings.default_model


def forget_inline_cache() -> None:
    with _inline_lock:
        _inline_cache.clear()


# -- the /roles door --------------------------------------------------------------------------------
def roles_view(engine: Engine) -> dict[str, Any]:
    """The GET /roles answer: what is configured (after roles.json) and what is used now."""
    s = engine.settings
    configured = {role: getattr(s, field, None) for role, field in ROLE_FIELDS.items()}
    saved = read_saved(s)
    if saved.get("rerank") and configured["rerank"] == rerank_spec(s, saved["rerank"]):
        configured["rerank"] = saved["rerank"]  # the model id chosen, not the file path RAG is given
    effective = {**configured, "inline": inline_model(engine)}
    return {**configured, "effective": effective, "saved": read_saved(s)}


def with_roles(models: list[dict[str, Any]], engine: Engine) -> list[dict[str, Any]]:
    """``list_models`` entries with ``roles``: the roles each model serves now (e.g. ["chat", "inline"])."""
    effective = roles_view(engine)["effective"]
    for m in models:
        m["roles"] = [role for role in ROLE_FIELDS if effective.get(role) and effective[role] == m.get("id")]
    return models


def _check(engine: Engine, role: str, model_id: Any) -> Any:
    """The registry entry of a role's model (None for null); 404 unknown, 400 the wrong kind."""
    if model_id is None:
        if role not in NULLABLE:
            raise InvalidInput(f"role {role!r} needs a model id (null is allowed for inline and rerank)")
        return None
    if not isinstance(model_id, str) or not model_id.strip():
        raise InvalidInput(f"role {role!r}: the model id must be a non-empty string", code="invalid_type")
    info = engine.registry.get(model_id)  # NotFound (404) for an unknown id
    kind = model_field(info, "kind")
    allowed = ROLE_KINDS[role]
    if role == "rerank" and model_field(info, "source") == "remote":
        return info  # a remote endpoint's /rerank (rag/rerank.py) reranks with any of its models
    if kind not in allowed:
        raise InvalidInput(
            f"'{model_id}' is a {kind} model; the {role} role takes a {' or '.join(allowed)} model",
            code="wrong_model_kind",
        )
    return info


def update_roles(engine: Engine, body: dict[str, Any], *, on_embedding_change: Any = None) -> dict[str, Any]:
    """Check every role in ``body``, then save and apply them all (nothing changes on a refusal)."""
    if not isinstance(body, dict) or not body:
        raise InvalidInput("the body must be a JSON object with chat, inline, embedding and/or rerank")
    unknown = sorted(set(body) - set(ROLE_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown role(s) {', '.join(unknown)}; roles: {', '.join(ROLE_FIELDS)}")
    infos = {role: _check(engine, role, model_id) for role, model_id in body.items()}
    settings = engine.settings
    saved = {**read_saved(settings), **body}
    _write_saved(settings, saved)
    old_embedding = settings.embedding_model
    for role, model_id in body.items():
        if role == "rerank" and model_id:
            info = infos[role]
            path = str(model_field(info, "path")) if model_field(info, "format") == "gguf" else None
            model_id = rerank_spec(settings, model_id, path)
        setattr(settings, ROLE_FIELDS[role], model_id)
    forget_inline_cache()
    if settings.embedding_model != old_embedding and on_embedding_change is not None:
        on_embedding_change()
    return roles_view(engine)


def switch_embedder(engine: Engine, rag: RagService | None) -> None:
    """Use the newly chosen embedding model from now on (the old one's weights are released).

    Collections embedded with the old model then refuse ingest and search with
    ``embedding_model_mismatch`` (409) until re-created: vectors of two models do not mix.
    """
    with engine._lock:
        old, engine._embedder = engine._embedder, None
    if old is not None and hasattr(old, "unload"):
        old.unload()
    if rag is not None:
        new = engine.embedder
        rag.embedder = new
        chunker = getattr(rag, "chunker", None)
        if chunker is not None:  # chunks are counted in the new model's tokens and fit its window
            chunker.count = getattr(new, "count_tokens_batch", None) or chunker.count
            chunker.max_tokens = max(16, min(chunker.max_tokens, int(getattr(new, "max_tokens", 256)) - 16))
