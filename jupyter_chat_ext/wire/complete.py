"""The editor's inline (ghost text) completion, and files of the server root as chat context.

``POST /inline`` streams SSE: ``token`` events of clean ghost text, then one ``done`` with the
whole completion (``finish_reason`` ``skipped`` with a ``reason`` when the request cannot be
completed: an unknown language, binary text, nothing around the cursor). What the request's
text may hold in tokens is the engine's budget (``inline_budget_tokens``), not a field limit.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .base import Answer, Body, Query
from .chat import ErrorEvent, TokenEvent
from .fields import NonBlankPath

__all__ = [
    "ContextFile",
    "ContextFileRequest",
    "ContextFilesQuery",
    "FileMatch",
    "FileMatches",
    "InlineDone",
    "InlineEvent",
    "InlineRequest",
]

MAX_LINES_LIMIT = 50
#: larger than this is not a cursor neighbourhood anymore (the route's 1 MB body limit is above)
MAX_FIELD_CHARS = 500_000
DEFAULT_MAX_CHARS = 20_000
MAX_CHARS_LIMIT = 1_000_000
#: how many files ``context/files`` answers at most
MAX_FILES = 100

Text = Annotated[str, Field(max_length=MAX_FIELD_CHARS)]


class InlineRequest(Body):
    """``POST /inline``: the text around the cursor (trimmed to the token budget by the server)."""

    prefix: Text | None = Field(None, description="the text before the cursor")
    suffix: Text | None = Field(None, description="the text after the cursor")
    language: Text | None = Field(
        None, description="the editor's language (python, ipython3, text/x-sql ...)"
    )
    path: str | None = Field(
        None, description="the file's path (its extension names the language when none is given)"
    )
    max_lines: int = Field(1, ge=1, le=MAX_LINES_LIMIT, description="lines of ghost text at most")
    model: str | None = Field(None, min_length=1, description="default: the inline role's model")
    warm: bool = Field(
        False,
        description="only evaluate the prompt into the engine's prompt cache (sent when a cell gets the"
        ' cursor); the stream is one done event, finish_reason "warm", text ""',
    )


class InlineDone(Answer):
    type: Literal["done"]
    text: str = Field(description="the whole completion")
    finish_reason: str | None = Field(description="stop, length, skipped, warm ...")
    metrics: dict[str, Any] = Field(
        description="tokens, timings, prefix_tokens, dropped_prefix_chars, fim ..."
    )
    reason: str | None = Field(None, description="why nothing was completed (finish_reason skipped)")


#: ``token`` events of clean ghost text (the done event's text is all of them), one ``done``; an
#: ``error`` event when the engine fails after the stream began (the same events as a chat turn's)
InlineEvent = Annotated[TokenEvent | InlineDone | ErrorEvent, Field(discriminator="type")]


class ContextFileRequest(Body):
    """``POST /context/file``: a file of the server root, read through the RAG loaders."""

    path: NonBlankPath = Field(description="relative to the server root (or absolute inside it)")
    max_chars: int | None = Field(
        None, ge=1, le=MAX_CHARS_LIMIT, description=f"text kept at most (default {DEFAULT_MAX_CHARS})"
    )


class ContextFile(Answer):
    path: str
    text: str
    truncated: bool = Field(description="the text was cut at max_chars")
    chars: int = Field(description="the whole text's length")


class ContextFilesQuery(Query):
    """``GET /context/files?q=``: what follows ``@file:`` in the chat box."""

    q: NonBlankPath = Field(max_length=500, description="letters of the path, fuzzy")
    limit: int = Field(20, ge=1, le=MAX_FILES)


class FileMatch(Answer):
    path: str = Field(description="relative to the server root")
    name: str
    type: Literal["file", "notebook"]


class FileMatches(Answer):
    files: list[FileMatch] = Field(description="best first; hidden files only with allow_hidden")
