"""Typed errors shared by every layer, and the one table from error codes to HTTP statuses.

The core raises these; the doors translate them (HTTP status + JSON body, an SSE error event, a
magic's message) and never decide a status of their own. Each error carries a stable
machine-readable ``code`` and an HTTP ``status`` that fits it. A class names the extra codes it is
raised with (``codes``), so ``status_for(code)`` knows every code of the package from one place:
the classes below. Error *events* (``{"type": "error", ...}`` from the engine or ChatService) carry
``status`` as well (``ChatExtError.to_event``); ``error_from_event`` turns one back into the typed
error for a door that raises (the kernel client), ``error_from`` does the same for an HTTP answer.
"""

from __future__ import annotations

import math
from typing import Any

#: statuses that tell a client to come back later; their answers carry ``Retry-After``
RETRY_STATUSES = (429, 503)
#: seconds a client should wait when the error names no delay of its own
DEFAULT_RETRY_AFTER = {429: 1.0, 503: 5.0}


class ChatExtError(Exception):
    """Base class: ``code`` is stable, ``message`` is for people, ``status`` is the HTTP status.

    ``retry_after`` (seconds) is the delay a client should wait before trying again; it only
    matters for 429/503, whose answers always carry a ``Retry-After`` header.
    """

    code = "error"
    status = 500
    #: other codes this class is raised with (``InvalidInput(..., code="invalid_type")``)
    codes: tuple[str, ...] = ()
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:  # only for an answer from elsewhere whose class is unknown
            self.status = int(status)
        if retry_after is not None:
            self.retry_after = float(retry_after)
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}

    def to_event(self, **extra: Any) -> dict[str, Any]:
        """The error as a stream event: ``{"type": "error", "code", "message", "status", ...}``."""
        event: dict[str, Any] = {
            "type": "error",
            "code": self.code,
            "message": self.message,
            "status": int(self.status),
        }
        if self.retry_after is not None:
            event["retry_after"] = self.retry_after
        event.update(extra)
        return event

    def retry_after_s(self) -> int | None:
        """Whole seconds for a ``Retry-After`` header (None when the status asks for no retry)."""
        return retry_after_header(int(self.status), self.retry_after)


class InvalidInput(ChatExtError):
    """Malformed or out-of-range input (400)."""

    code = "invalid_input"
    status = 400
    codes = (
        "invalid_type",
        "invalid_value",
        "invalid_option",
        "invalid_messages",
        "empty_content",
        "unsupported",
        "wrong_model_kind",
        "query_timeout",
        "invalid_schema",
        "invalid_tool_choice",
        "unsupported_feature",
    )


class NotFound(ChatExtError):
    """An unknown id: session, message, model, collection (404)."""

    code = "not_found"
    status = 404
    codes = (
        "model_not_found",
        "unknown_tool_call",
        "unknown_tool",
        "repo_not_found",
        "revision_not_found",
        "file_not_found",
    )


class Conflict(ChatExtError):
    """The request clashes with current state, e.g. a collection that already exists (409)."""

    code = "conflict"
    status = 409
    codes = (
        "embedding_model_mismatch",
        "not_interrupted",
        "nothing_to_regenerate",
        "job_finished",
        "job_not_resumable",
        "tool_call_decided",
        "tool_call_exists",
        "session_busy",
        "write_conflict",
        "already_pulled",
        "model_in_use",
    )


class PayloadTooLarge(ChatExtError):
    """An oversized body, upload or prompt (413)."""

    code = "too_large"
    status = 413
    codes = ("prompt_too_long",)


class Busy(ChatExtError):
    """The generation queue is full; retry later (429)."""

    code = "busy"
    status = 429
    retry_after = DEFAULT_RETRY_AFTER[429]


class Unavailable(ChatExtError):
    """A needed part is not ready: no model loaded and none can be, engine shutting down (503)."""

    code = "unavailable"
    status = 503
    codes = (
        "store_locked",
        "store_closed",
        "rag_unavailable",
        "model_load_failed",
        "endpoint_unavailable",
        "core_starting",
        "hub_unreachable",
        "job_kind_unavailable",
    )
    retry_after = DEFAULT_RETRY_AFTER[503]


class Forbidden(ChatExtError):
    """The request names something it may not reach, e.g. a file outside the server root (403)."""

    code = "forbidden"
    status = 403
    codes = ("path_outside_root", "gated_repo", "model_not_deletable", "approval_token_mismatch")


class UnsupportedMedia(ChatExtError):
    """A file of a type no loader reads (415)."""

    code = "unsupported_media_type"
    status = 415
    codes = ("unsupported_file_type", "unsupported_model_format")


class Unprocessable(ChatExtError):
    """A file of a known type that cannot be read: corrupt, a folder, undecodable (422)."""

    code = "unprocessable"
    status = 422
    codes = ("unreadable_file", "not_a_file")


class StorageFull(ChatExtError):
    """The data dir's disk is full: nothing was written; free space and retry (507)."""

    code = "storage_full"
    status = 507


class ModelError(ChatExtError):
    """A model file is missing or corrupt, or a load failed (a server-side fault, 500 only here)."""

    code = "model_error"
    status = 500
    codes = (
        "generation_failed",
        "model_missing",
        "embedding_model_unsupported",
        # a pulled file whose sha256 is not the Hub's (a pull job's error; the file is deleted)
        "checksum_mismatch",
        # a job's run function raised something untyped
        "pull_failed",
        "ingest_failed",
        "upload_failed",
    )


class SchemaError(ChatExtError):
    """A store written by a newer version of this package, or a failed migration."""

    code = "schema_error"
    status = 500
    codes = ("schema_too_new", "migration_failed", "store_unreadable")


# -- the lookups ------------------------------------------------------------------------------------

#: status of the plain HTTP errors raised by tornado / jupyter_server -> our error code
CODE_BY_STATUS = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "busy",
    503: "unavailable",
    507: "storage_full",
}


def _classes() -> list[type[ChatExtError]]:
    found: list[type[ChatExtError]] = []
    todo: list[type[ChatExtError]] = [ChatExtError]
    while todo:
        cls = todo.pop(0)
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def class_for_code(code: str | None) -> type[ChatExtError] | None:
    """The class that raises ``code`` (its own code or one of its ``codes``), None if unknown."""
    if not code:
        return None
    for cls in _classes():
        if code == cls.code or code in cls.codes:
            return cls
    return None


def class_for_status(status: int) -> type[ChatExtError]:
    """The error class of an HTTP status (the base class for a status no class owns)."""
    for cls in _classes()[1:]:
        if cls.status == status and cls not in (ModelError, SchemaError):
            return cls
    return ChatExtError


def status_for(code: str | None) -> int:
    """The HTTP status of an error code; 500 for a code no class declares."""
    cls = class_for_code(code)
    return int(cls.status) if cls is not None else 500


def code_for_status(status: int) -> str:
    """The error code of a plain HTTP error (one raised by tornado, not by the core)."""
    return CODE_BY_STATUS.get(status, "internal_error" if status >= 500 else "http_error")


def error_from(
    code: str | None, message: str, *, status: int | None = None, retry_after: float | None = None
) -> ChatExtError:
    """The typed error for a code and/or a status seen elsewhere (an event, an HTTP answer).

    The class comes from the code when the code is known and agrees with the status, else from
    the status; the status given (if any) is kept as it was decided where the error happened.
    """
    cls = class_for_code(code)
    if cls is None or (status is not None and int(cls.status) != int(status)):
        cls = class_for_status(int(status)) if status is not None else ChatExtError
    keep = None if status is None or int(status) == int(cls.status) else int(status)
    return cls(message, code=code or None, status=keep, retry_after=retry_after)


def error_from_event(event: dict[str, Any]) -> ChatExtError:
    """The typed error an ``{"type": "error", "code", "message", "status"?}`` event stands for."""
    status = event.get("status")
    retry = event.get("retry_after")
    return error_from(
        str(event.get("code") or "") or None,
        str(event.get("message") or "error"),
        status=int(status) if isinstance(status, int) and not isinstance(status, bool) else None,
        retry_after=float(retry) if isinstance(retry, (int, float)) and not isinstance(retry, bool) else None,
    )


def event_status(event: dict[str, Any]) -> int:
    """The status an error event carries (``status_for(code)`` for an event from older code)."""
    status = event.get("status")
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        return status
    return status_for(str(event.get("code") or ""))


def retry_after_header(status: int, seconds: float | None) -> int | None:
    """Whole seconds for ``Retry-After`` on a 429/503 answer; None for any other status."""
    if status not in RETRY_STATUSES:
        return None
    value = DEFAULT_RETRY_AFTER[status] if seconds is None else seconds
    return max(0, math.ceil(value))
