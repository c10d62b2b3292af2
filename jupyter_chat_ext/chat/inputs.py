"""Validation at the door of the core: raw values in, typed values out.

Every door (HTTP handler, kernel, widget) may check shapes for its own error messages, but the
core checks once here and carries the typed result inward; nothing deeper re-validates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine.options import GenerationOptions
from ..errors import InvalidInput, PayloadTooLarge, Unavailable

RAG_MODES = ("hybrid", "vector", "text")
#: attached context: at most this many items, labels this long (the text shares the content limit)
MAX_CONTEXT_ITEMS = 20
MAX_CONTEXT_LABEL = 200


@dataclass(frozen=True)
class RagSpec:
    """Retrieval for one turn: which collection, how many passages, which search."""

    collection: str
    k: int = 4
    mode: str = "hybrid"

    def to_dict(self) -> dict[str, Any]:
        return {"collection": self.collection, "k": self.k, "mode": self.mode}


def text(name: str, value: Any, *, allow_none: bool = True) -> str | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    return value


def content(value: Any, max_chars: int) -> str:
    """A user message: a non-blank string within the configured size."""
    if not isinstance(value, str):
        raise InvalidInput("content must be a string")
    if not value.strip():
        raise InvalidInput("content must not be empty", code="empty_content")
    if len(value) > max_chars:
        raise PayloadTooLarge(f"message is {len(value)} characters; the limit is {max_chars}")
    return value


def params(value: Any) -> dict[str, Any]:
    """Generation options as given (a dict), checked by GenerationOptions; {} when absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("params must be an object")
    GenerationOptions.from_any(value)  # raises InvalidInput with the option's name
    return value


def options(*layers: Any) -> GenerationOptions:
    """Merge option dicts (later wins: session defaults, the message's, the request's)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(params(layer))
    return GenerationOptions.from_any(merged)


def model(engine: Any, value: Any) -> str | None:
    """A chat model id known to the registry (NotFound otherwise), or None for the default."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput("model must be a model id string")
    info = engine.registry.get(value)
    if info.kind != "chat":
        raise InvalidInput(f"'{value}' is an embedding model; it cannot chat", code="wrong_model_kind")
    return value


def rag(value: Any, available: bool) -> RagSpec | None:
    """The ``rag`` field of a turn; the collection itself is looked up by the caller (I/O)."""
    if value is None:
        return None
    if isinstance(value, RagSpec):
        return value
    if not isinstance(value, dict) or not isinstance(value.get("collection"), str):
        raise InvalidInput("rag must be an object with a collection name")
    if not available:
        raise Unavailable("retrieval is not available in this service", code="rag_unavailable")
    k = value.get("k", 4)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
        raise InvalidInput("rag.k must be an integer between 1 and 50")
    mode = value.get("mode", "hybrid")
    if mode not in RAG_MODES:
        raise InvalidInput("rag.mode must be hybrid, vector or text")
    return RagSpec(value["collection"], k, mode)


def context(value: Any, max_chars: int, used: int = 0) -> list[dict[str, str]] | None:
    """The ``context`` items of a turn (``chat/context.py``): kinds, labels, text sizes checked.

    The items' text and the message (``used`` characters) share the ``max_chars`` limit: the
    model reads them together. Extra keys are dropped, so the stored metadata holds only these.
    """
    from .context import KINDS

    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise InvalidInput("context must be a list of {kind, label, text} objects")
    if len(value) > MAX_CONTEXT_ITEMS:
        raise InvalidInput(f"context holds {len(value)} items; the limit is {MAX_CONTEXT_ITEMS}")
    items: list[dict[str, str]] = []
    total = used
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidInput(f"context[{i}] must be an object")
        kind, label, body = item.get("kind"), item.get("label"), item.get("text")
        if kind not in KINDS:
            raise InvalidInput(f"context[{i}].kind must be one of {', '.join(KINDS)}", code="invalid_value")
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_CONTEXT_LABEL or "\n" in label:
            raise InvalidInput(f"context[{i}].label must be one line of 1 to {MAX_CONTEXT_LABEL} characters")
        if not isinstance(body, str):
            raise InvalidInput(f"context[{i}].text must be a string", code="invalid_type")
        total += len(body)
        if total > max_chars:
            raise PayloadTooLarge(f"the message and its context hold over {max_chars} characters")
        items.append({"kind": kind, "label": label.strip(), "text": body})
    return items


def message_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("message id must be a non-negative integer")
    return value
