"""Sessions: create, update, list (the stored row's shape is ``store/types.py``'s ``Session``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from jupyter_chat_ext.store.types import Session

from .base import Answer, Body, Query

__all__ = ["Session", "SessionCreate", "SessionList", "SessionQuery", "SessionUpdate"]


class SessionCreate(Body):
    """``POST /sessions``: every field optional (the server's defaults apply)."""

    title: str | None = Field(None, max_length=500)
    model: str | None = Field(None, max_length=500, description="a chat model id (default: the server's)")
    system_prompt: str | None = Field(None, max_length=100_000)
    params: dict[str, Any] | None = Field(None, description="generation options (GenerationParams)")


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
