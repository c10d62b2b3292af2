"""Validation at the door of the core: what the wire models cannot know.

The shapes (types, names, ranges, the option names, the context items, ``rag``) are declared once
in ``wire/chat.py``; the HTTP door validates a body against them, and the core validates here
against the same models, because the kernel and the widgets call the core without HTTP. What is
left to write by hand is what depends on the running service: the configured size limits, the
model registry, whether retrieval is available. The typed result is carried inward; nothing
deeper re-validates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from ..engine.options import GenerationOptions, checked
from ..errors import InvalidInput, PayloadTooLarge, Unavailable
from ..wire.base import Body, parse
from ..wire.chat import MAX_CONTEXT_ITEMS, AgentTools, ContextItem, RagField, RagSpec

if TYPE_CHECKING:
    from ..engine.engine import Engine

__all__ = [
    "RagSpec",
    "content",
    "context",
    "message_id",
    "model",
    "options",
    "params",
    "rag",
    "text",
    "tools",
]


class _Turn(Body):
    """The parts of a turn the core takes from any door, named as in a chat body."""

    rag: RagField = None
    context: list[ContextItem] | None = Field(None, max_length=MAX_CONTEXT_ITEMS)
    tools: AgentTools | None = None


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
    """Generation options as given (canonical names), checked by GenerationParams; {} when absent."""
    if value is None:
        return {}
    return checked(value).given()


def options(*layers: Any) -> GenerationOptions:
    """Merge option dicts (later wins: session defaults, the message's, the request's)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(params(layer))
    return GenerationOptions.from_any(merged)


def model(engine: Engine, value: Any) -> str | None:
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
    """The ``rag`` field of a turn (a name or a RagSpec); the collection itself is looked up by the
    caller (I/O)."""
    if value is None:
        return None
    spec = value if isinstance(value, RagSpec) else parse(_Turn, {"rag": value}).rag
    if not available:
        raise Unavailable("retrieval is not available in this service", code="rag_unavailable")
    return spec


def context(value: Any, max_chars: int, used: int = 0) -> list[dict[str, str]] | None:
    """The ``context`` items of a turn (``chat/context.py``), as dicts for the stored metadata.

    The items' text and the message (``used`` characters) share the ``max_chars`` limit: the
    model reads them together.
    """
    if value is None or value == []:
        return None
    items = parse(_Turn, {"context": value}).context or []
    total = used + sum(len(item.text) for item in items)
    if total > max_chars:
        raise PayloadTooLarge(f"the message and its context hold over {max_chars} characters")
    return [item.model_dump() for item in items]


def tools(value: Any) -> AgentTools:
    """The ``tools`` field of an agent turn (which tools exist is the registry's to say)."""
    if isinstance(value, AgentTools):
        return value
    checked_tools = parse(_Turn, {"tools": value}).tools
    if checked_tools is None:
        raise InvalidInput("'tools' must be an object {names?, client?, max_steps?, tool_choice?}")
    return checked_tools


def message_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput("message id must be a non-negative integer")
    return value
