"""Translation between OpenAI request/response shapes and the core's (pure functions, no I/O).

The request shapes are declared (and validated at the door) in ``wire/openai.py``; what is left
here is what a shape cannot say: the limits of the server's settings (``max_content_chars``) and
the core's names (``developer`` is ``system``, ``max_completion_tokens`` is ``max_tokens``).
Answers are built as dicts in the shapes of openai's models (``wire/openai.py`` declares them).
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jupyter_chat_ext.engine.structured import Structured
from jupyter_chat_ext.errors import PayloadTooLarge

if TYPE_CHECKING:  # the openai package loads with the first /v1 request (handlers_openai.v1_shape)
    from jupyter_chat_ext.wire.openai import V1ChatRequest, V1EmbeddingRequest

ROLE_MAP = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}
FINISH_MAP = {"stop": "stop", "length": "length", "cancelled": "stop", "tool_calls": "tool_calls"}


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """OpenAI's error shape; ``type`` names the status (decided by errors.py) in OpenAI's words."""
    if status >= 500:
        kind = "server_error"
    elif status == 429:
        kind = "rate_limit_error"
    elif status in (401, 403):
        kind = "authentication_error" if status == 401 else "permission_error"
    else:
        kind = "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    model: str | None
    stream: bool = False
    include_usage: bool = False
    #: response_format / tools / tool_choice, validated (engine/structured.py); None: plain chat
    structured: Structured | None = None
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


def chat_request(body: V1ChatRequest, *, max_chars: int) -> ChatRequest:
    """The core's view of a validated /v1/chat/completions body (413 past ``max_chars``)."""
    messages: list[dict[str, Any]] = []
    total = 0
    for msg in body.messages:
        entry: dict[str, Any] = {"role": ROLE_MAP[msg.role], "content": msg.content}
        total += len(msg.content)
        # tool shapes go on as they are; the engine's check_messages validates them
        if msg.role == "assistant" and msg.tool_calls:
            entry["tool_calls"] = msg.tool_calls
            total += len(str(msg.tool_calls))
        if msg.role == "tool":
            entry["tool_call_id"] = msg.tool_call_id
            if msg.name is not None:
                entry["name"] = msg.name
        messages.append(entry)
    if total > max_chars:
        raise PayloadTooLarge(f"the messages hold {total} characters; the limit is {max_chars}")
    # 400 for a bad schema, an unknown tool_choice or the retired functions API
    structured = Structured.from_openai(body.structured_fields())
    params = body.sampling()
    max_tokens = body.max_completion_tokens or body.max_tokens
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if body.top_k is not None:
        params["top_k"] = body.top_k
    return ChatRequest(
        messages=messages,
        params=params,
        model=body.model,
        stream=bool(body.stream),
        include_usage=body.include_usage,
        structured=structured,
    )


def tool_call_deltas(tool_calls: list[dict[str, Any]]) -> dict[str, Any]:
    """The stream delta that carries whole tool calls (OpenAI's shape, with their index)."""
    return {"tool_calls": [{"index": i, **call} for i, call in enumerate(tool_calls)]}


def usage(metrics: dict[str, Any]) -> dict[str, int]:
    prompt = int(metrics.get("prompt_tokens") or 0)
    completion = int(metrics.get("completion_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(
    req: ChatRequest,
    model: str,
    text: str,
    finish_reason: Any,
    metrics: dict[str, Any],
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:  # OpenAI: content is null when the answer is only a call
        message = {"role": "assistant", "content": text or None, "tool_calls": tool_calls}
    return {
        "id": req.id,
        "object": "chat.completion",
        "created": req.created,
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_MAP.get(str(finish_reason), "stop"),
            }
        ],
        "usage": usage(metrics),
    }


def chunk(req: ChatRequest, model: str, delta: dict[str, Any] | None, finish_reason: Any = None) -> dict:
    body: dict[str, Any] = {
        "id": req.id,
        "object": "chat.completion.chunk",
        "created": req.created,
        "model": model,
        "system_fingerprint": None,
        "choices": []
        if delta is None
        else [
            {
                "index": 0,
                "delta": delta,
                "logprobs": None,
                "finish_reason": None
                if finish_reason is None
                else FINISH_MAP.get(str(finish_reason), "stop"),
            }
        ],
    }
    if req.include_usage:
        body["usage"] = None
    return body


def model_entry(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": info.get("id"),
        "object": "model",
        "created": 0,
        "owned_by": f"jupyter-chat-ext ({info.get('source', 'local')})",
        "kind": info.get("kind"),
        "state": info.get("state"),
        "context_length": info.get("context_length"),
    }


def check_embedding_inputs(body: V1EmbeddingRequest, *, max_chars: int) -> None:
    """413 for a text past ``max_chars`` (a limit of the server's settings, not of the shape)."""
    if any(len(t) > max_chars for t in body.input):
        raise PayloadTooLarge(f"an input is longer than {max_chars} characters")


def embedding_response(
    req: V1EmbeddingRequest, model: str, vectors: Any, prompt_tokens: int
) -> dict[str, Any]:
    import numpy as np  # only here: keeps server start-up light

    arr = np.asarray(vectors, dtype=np.float32)
    data = []
    for i, row in enumerate(arr):
        value: Any = (
            base64.b64encode(np.ascontiguousarray(row, dtype="<f4").tobytes()).decode("ascii")
            if req.encoding_format == "base64"
            else row.tolist()
        )
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }
