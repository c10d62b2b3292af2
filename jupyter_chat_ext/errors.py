"""Typed errors shared by every layer.

The core raises these; the doors translate them (HTTP status + JSON body, a magic's message).
Each error carries a stable machine-readable ``code`` and an HTTP ``status`` that fits it.
"""

from __future__ import annotations

from typing import Any


class ChatExtError(Exception):
    """Base class: ``code`` is stable, ``message`` is for people, ``status`` is the HTTP status."""

    code = "error"
    status = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class InvalidInput(ChatExtError):
    """Malformed or out-of-range input (400)."""

    code = "invalid_input"
    status = 400


class NotFound(ChatExtError):
    """An unknown id: session, message, model, collection (404)."""

    code = "not_found"
    status = 404


class Conflict(ChatExtError):
    """The request clashes with current state, e.g. a collection that already exists (409)."""

    code = "conflict"
    status = 409


class PayloadTooLarge(ChatExtError):
    """An oversized body, upload or prompt (413)."""

    code = "too_large"
    status = 413


class Busy(ChatExtError):
    """The generation queue is full; retry later (429)."""

    code = "busy"
    status = 429


class Unavailable(ChatExtError):
    """A needed part is not ready: no model loaded and none can be, engine shutting down (503)."""

    code = "unavailable"
    status = 503


class ModelError(ChatExtError):
    """A model file is missing or corrupt, or a load failed (a server-side fault, 500 only here)."""

    code = "model_error"
    status = 500


class SchemaError(ChatExtError):
    """A store written by a newer version of this package, or a failed migration."""

    code = "schema_error"
    status = 500


class Cancelled(ChatExtError):
    """A request was cancelled before it produced anything."""

    code = "cancelled"
    status = 499
