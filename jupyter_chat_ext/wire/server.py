"""The server's own routes: health, Prometheus metrics, and the JSON 404 of every other path."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Answer, ErrorBody

__all__ = ["Health", "HealthDown"]


class Health(Answer):
    """``GET /health``: the one shape of ``Core.health`` (the kernel's ``%chat health`` too)."""

    status: str = Field(description="ok, degraded (a part failed) or error")
    version: str = Field(description="the package version")
    uptime_s: float = Field(description="seconds since the extension started")
    engine: dict[str, Any] | None = Field(None, description="the engine: models, queues")
    store: dict[str, Any] | None = Field(None, description="the chat store (DuckDB)")
    rag: dict[str, Any] | None = Field(None, description="RAG (LanceDB): available, collections, or why not")


class HealthDown(Answer):
    """``GET /health`` while the core cannot start (503): the reason, in the same shape."""

    status: Literal["error"]
    version: str
    uptime_s: float
    error: ErrorBody
    engine: None = None
    store: None = None
    rag: None = None
