"""The store's extras: full-text search over the history, read-only SQL, the response cache."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from jupyter_chat_ext.store.types import SearchHit

from .base import Answer, Body, Query

__all__ = ["CacheEntry", "CachePut", "HistoryQuery", "SearchHit", "SearchResults", "SqlAnswer", "SqlRequest"]


class HistoryQuery(Query):
    q: str = Field(
        min_length=1,
        max_length=1000,
        pattern=r"\S",
        description="every word must be a prefix of some word of a message (case-insensitive)",
    )
    limit: int = Field(50, ge=1, le=500)


class SearchResults(Answer):
    results: list[SearchHit] = Field(description="the newest matching messages first")


class SqlRequest(Body):
    query: str = Field(min_length=1, max_length=100_000, description="one read-only statement")
    max_rows: int = Field(10_000, ge=1, le=100_000)


class SqlAnswer(Answer):
    columns: list[str]
    rows: list[list[Any]]


class CachePut(Body):
    value: dict[str, Any] = Field(description="any JSON object")


class CacheEntry(Answer):
    key: str
    value: dict[str, Any]
