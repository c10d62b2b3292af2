"""Translation between OpenAI request/response shapes and the core's (pure functions, no I/O)."""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from jupyter_chat_ext.engine.structured import Structured
from jupyter_chat_ext.errors import InvalidInput, PayloadTooLarge

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


def _number(data: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{key!r} must be a number", code="invalid_type")
    if not lo <= value <= hi:
        raise InvalidInput(f"{key!r} must be between {lo} and {hi}", code="invalid_value")
    return float(value)


def _int(data: dict[str, Any], key: str, lo: int, hi: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{key!r} must be an integer", code="invalid_type")
    if not lo <= value <= hi:
        raise InvalidInput(f"{key!r} must be between {lo} and {hi}", code="invalid_value")
    return value


def _content(value: Any, index: int) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        parts = []
        for part in value:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise InvalidInput(f"messages[{index}].content: only text parts are supported")
            parts.append(part["text"])
        return "".join(parts)
    raise InvalidInput(f"messages[{index}].content must be a string or a list of text parts")


def parse_chat_request(data: dict[str, Any], *, max_chars: int) -> ChatRequest:
    """Validate a /v1/chat/completions body; InvalidInput names the offending field."""
    raw = data.get("messages")
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("'messages' must be a non-empty list", code="invalid_messages")
    messages: list[dict[str, Any]] = []
    total = 0
    for i, msg in enumerate(raw):
        if not isinstance(msg, dict):
            raise InvalidInput(f"messages[{i}] must be an object")
        raw_role = msg.get("role")
        role = ROLE_MAP.get(raw_role) if isinstance(raw_role, str) else None  # {} is unhashable
        if role is None:
            raise InvalidInput(f"messages[{i}].role {msg.get('role')!r} is not supported")
        text = _content(msg.get("content"), i)
        total += len(text)
        entry: dict[str, Any] = {"role": role, "content": text}
        # tool shapes go on as they are; the engine's check_messages validates them
        if role == "assistant" and msg.get("tool_calls"):
            entry["tool_calls"] = msg["tool_calls"]
            total += len(str(msg["tool_calls"]))
        if role == "tool":
            entry["tool_call_id"] = msg.get("tool_call_id")
            if isinstance(msg.get("name"), str):
                entry["name"] = msg["name"]
        messages.append(entry)
    if total > max_chars:
        raise PayloadTooLarge(f"the messages hold {total} characters; the limit is {max_chars}")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidInput("'model' must be a string")
    structured = Structured.from_openai(data)  # 400 for a bad schema or an unknown tool_choice
    parallel = data.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise InvalidInput("'parallel_tool_calls' must be true or false")  # we make one call a turn
    if data.get("logprobs"):
        raise InvalidInput("'logprobs' is not supported by this server", code="unsupported")
    n = _int(data, "n", 1, 1)  # only one choice
    del n
    stream = data.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidInput("'stream' must be true or false")
    opts = data.get("stream_options") or {}
    if not isinstance(opts, dict):
        raise InvalidInput("'stream_options' must be an object")
    include_usage = bool(opts.get("include_usage", False))

    params: dict[str, Any] = {}
    max_tokens = _int(data, "max_completion_tokens", 1, 1_000_000)
    if max_tokens is None:
        max_tokens = _int(data, "max_tokens", 1, 1_000_000)
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if (temperature := _number(data, "temperature", 0.0, 2.0)) is not None:
        params["temperature"] = temperature
    if (top_p := _number(data, "top_p", 0.0, 1.0)) is not None:
        params["top_p"] = top_p
    if (top_k := _int(data, "top_k", 0, 100_000)) is not None:
        params["top_k"] = top_k
    if (seed := _int(data, "seed", -(2**63), 2**63 - 1)) is not None:
        params["seed"] = seed
    stop = data.get("stop")
    if stop is not None:
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 16:
            raise InvalidInput("'stop' must be a string or a list of up to 16 non-empty strings")
        if stop:
            params["stop"] = stop
    return ChatRequest(
        messages=messages,
        params=params,
        model=model,
        stream=stream,
        include_usage=include_usage,
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


@dataclass
class EmbeddingRequest:
    texts: list[str]
    model: str | None
    encoding_format: str


def parse_embedding_request(
    data: dict[str, Any], *, max_items: int = 2048, max_chars: int
) -> EmbeddingRequest:
    raw = data.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(t, str) for t in raw):
        texts = list(raw)
    elif isinstance(raw, list) and raw and all(isinstance(t, (int, list)) for t in raw):
        raise InvalidInput("token-id inputs are not supported; send text", code="unsupported")
    else:
        raise InvalidInput("'input' must be a string or a non-empty list of strings")
    if len(texts) > max_items:
        raise PayloadTooLarge(f"'input' has {len(texts)} items; the limit is {max_items}")
    if any(len(t) > max_chars for t in texts):
        raise PayloadTooLarge(f"an input is longer than {max_chars} characters")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidInput("'model' must be a string")
    fmt = data.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise InvalidInput("'encoding_format' must be 'float' or 'base64'")
    return EmbeddingRequest(texts=texts, model=model, encoding_format=fmt)


def embedding_response(req: EmbeddingRequest, model: str, vectors: Any, prompt_tokens: int) -> dict[str, Any]:
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
