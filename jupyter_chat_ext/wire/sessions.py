"""Sessions: create, update, list, export and import (the stored row's shape is
``store/types.py``'s ``Session``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, GetJsonSchemaHandler, RootModel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

from jupyter_chat_ext.store.types import Session

from .base import Answer, Body, Query
from .chat import GenerationParams

__all__ = [
    "ExportQuery",
    "Session",
    "SessionCreate",
    "SessionExport",
    "SessionImport",
    "SessionList",
    "SessionQuery",
    "SessionUpdate",
]


class SessionCreate(Body):
    """``POST /sessions``: every field optional (the server's defaults apply)."""

    title: str | None = Field(None, max_length=500)
    model: str | None = Field(None, max_length=500, description="a chat model id (default: the server's)")
    system_prompt: str | None = Field(None, max_length=100_000)
    params: GenerationParams | None = Field(None, description="the session's default generation options")


class SessionUpdate(SessionCreate):
    """``PATCH /sessions/{id}``: only the fields given change; null clears one."""

    pinned: bool | None = None


class SessionQuery(Query):
    q: str | None = Field(None, max_length=1000, description="words in the title or the messages")
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10**9)


class SessionList(Answer):
    sessions: list[Session]
    total: int


class ExportQuery(Query):
    format: Literal["json", "markdown", "md"] = Field("json", description="md is markdown")


class SessionExport(Answer):
    """The JSON export format (export's output is import's input; ``store/export.py``): every
    branch, ids that only link the messages to each other."""

    format: Literal["jupyter-chat-ext.session"]
    version: int = Field(ge=1, description="2 keeps every branch; 1 was one thread")
    exported_at: str | None = None
    session: dict[str, Any] = Field(
        description="id, title, model, system_prompt, params, pinned, created_at, updated_at, head_id"
    )
    messages: list[dict[str, Any]] = Field(
        description="oldest first: id, role, content, model, params, parent_id, status, metadata, "
        "created_at, tokens, metrics"
    )


class SessionImport(RootModel[dict[str, Any]]):
    """``POST /sessions/import``: a :class:`SessionExport`, checked whole by the store's own
    validator (``store/import_doc.py``: every field, before anything is written, for every door),
    so the door only asks for an object: validating 100k messages twice would block the loop."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: cs.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(SessionExport.__pydantic_core_schema__)
