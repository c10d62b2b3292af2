"""The shapes the store hands out: plain dicts, typed for readers and type checkers.

Every timestamp is an ISO-8601 string in UTC (``+00:00``); ``params`` and ``metadata`` are dicts.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict  # pydantic reads these (wire/) and needs this one before 3.12

Role = Literal["system", "user", "assistant", "tool"]
#: ``streaming`` only while an answer is being generated; a crash leaves it, and the next open
#: turns it into ``interrupted`` (metadata.finish_reason = "crashed")
Status = Literal["complete", "interrupted", "error", "streaming"]


class Metrics(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    ttft_s: float | None
    tokens_per_s: float | None
    total_s: float | None
    model: str | None
    device: str | None
    finish_reason: str | None


class Session(TypedDict):
    id: str
    title: str | None
    model: str | None
    system_prompt: str | None
    params: dict
    pinned: bool
    created_at: str
    updated_at: str
    message_count: int
    prompt_tokens: int
    completion_tokens: int


class NewSession(TypedDict, total=False):
    """What a door may give a new session (``ChatService.create_session`` checks each field)."""

    title: str | None
    model: str | None
    system_prompt: str | None
    params: dict | None


class _MessageFields(TypedDict):
    id: int
    session_id: str
    role: Role
    content: str
    model: str | None
    params: dict
    parent_id: int | None
    status: Status
    metadata: dict
    created_at: str
    #: token count of ``content`` (None when unknown, e.g. rows written before schema v3)
    tokens: int | None
    metrics: Metrics | None


class Message(_MessageFields, total=False):
    #: in a listing, on a user message that has siblings (edits of one turn): its place among
    #: them, {index, count, prev, next} (store/branches.py); None or absent otherwise
    branch: dict | None


class SearchHit(TypedDict):
    session_id: str
    message_id: int
    role: Role
    snippet: str
    created_at: str
