"""What the OpenAPI document shares across operations: no one shape's, so declared here once.

The description and tags, the path parameters (a route pattern names them; their limits are
here), the security schemes, and the error responses every operation refers to.
"""

from __future__ import annotations

import copy
from typing import Any

from .base import Answer
from .schemas import REF

DESCRIPTION = (
    "Local-first AI chat inside Jupyter: sessions and messages (DuckDB), streaming chat turns "
    "(text/event-stream), RAG collections (LanceDB), read-only SQL over the store, and an "
    "OpenAI-compatible /v1 API. Every route needs Jupyter credentials (a token in the "
    "Authorization header, or the session cookie plus the XSRF header). Errors are JSON "
    '{"error": {"code", "message"}} with a fitting status, never a stack trace (the /v1 routes use '
    "OpenAI's error shape). 429 and 503 carry Retry-After. This document is generated from the "
    "route table and the pydantic declarations of jupyter_chat_ext/wire/."
)

#: Jupyter's credentials: the token header, or a bearer token (the openai client's api_key)
SECURITY_SCHEMES: dict[str, Any] = {
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "token <the Jupyter server token>",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the Jupyter server token (what the openai client sends)",
    },
}

TAGS: dict[str, str] = {
    "server": "health, metrics, this document",
    "models": "the model registry and loading",
    "sessions": "chat sessions and their messages",
    "chat": "turns: text/event-stream answers",
    "store": "history search, read-only SQL, response cache",
    "rag": "collections, ingestion, search",
    "jobs": "background jobs of every kind: ingest, upload, model pull",
    "openai": "OpenAI-compatible routes",
    "completion": "inline completion and files as chat context",
    "tools": "tools for agent turns; this server's history and RAG as an MCP server",
    "hub": "hardware profile, Hugging Face Hub search and files, the model catalog, roles",
    "providers": "OpenAI-compatible endpoints added at run time (keys never returned)",
}


def _string(min_length: int | None, max_length: int, **more: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length, **more}
    if min_length is not None:
        schema["minLength"] = min_length
    return schema


#: path parameters: (component name, schema, description); by name, or by (first segment, name)
PATH_PARAMETERS: dict[Any, tuple[str, dict[str, Any], str | None]] = {
    "session_id": ("SessionId", _string(1, 200), "32 hex chars"),
    "raw_id": ("MessageId", _string(1, 40), "a message id (integer; anything else is 404)"),
    "model_id": ("ModelId", _string(1, 500), "a registry id (may contain slashes)"),
    "job_id": ("JobId", _string(1, 200), None),
    "call_id": ("CallId", _string(None, 200), "the call_id of a tool_call event"),
    "key": ("CacheKey", _string(1, 1000), None),
    ("collections", "name"): ("CollectionName", _string(1, 200), None),
    ("providers", "name"): (
        "ProviderName",
        _string(1, 64),
        "the provider's name (the prefix of its model ids)",
    ),
    "rest": (
        "UnknownPath",
        {"type": "string", "pattern": "^no-such-[A-Za-z0-9_-]*$"},
        "any path under /chat-ext/ that no other route matches (here, names starting no-such-)",
    ),
}

#: examples schemathesis starts from (a real id makes the model routes answer more than 404)
PATH_EXAMPLES = {"ModelId": {"default": {"value": "smollm2-135m-instruct"}}}

RETRY_AFTER = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}


class OpenAIErrorBody(Answer):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(Answer):
    """Every error of /v1: OpenAI's ``{"error": {"message", "type", "param", "code"}}``."""

    error: OpenAIErrorBody


class OpenApiDocument(Answer):
    """the OpenAPI 3.1 document"""

    openapi: str
    paths: dict[str, Any]


def shared_responses() -> dict[str, Any]:
    """The error responses operations share (an error of /chat-ext, one to retry, one of /v1)."""
    error = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    return {
        "Error": {"description": "a JSON error with a stable code", "content": error},
        "Unavailable": {
            "description": (
                "a needed part is not ready (model loading or failed, store locked, RAG missing); retry later"
            ),
            "headers": copy.deepcopy(RETRY_AFTER),
            "content": copy.deepcopy(error),
        },
        "OpenAIError": {
            "description": "OpenAI's error shape",
            "content": {"application/json": {"schema": {"$ref": REF.format(model="OpenAIError")}}},
        },
    }
