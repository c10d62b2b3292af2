"""OpenAI's legacy ``/v1/completions`` shapes (pure functions, no I/O).

Editors and tools that complete code (and lm-eval's ``local-completions``) still speak it: a raw
``prompt`` (plus ``suffix`` for fill-in-the-middle), answers in ``choices[].text``. Fields we cannot
honour are refused with a 400 rather than ignored: ``echo``, ``n``/``best_of`` above 1,
``logprobs``, ``logit_bias``, non-zero presence/frequency penalties.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from jupyter_chat_ext.errors import InvalidInput, PayloadTooLarge

from .openai_compat import FINISH_MAP, _int, _number, usage

#: OpenAI's default for this endpoint (short: completions are usually a few words of code)
DEFAULT_MAX_TOKENS = 16


@dataclass
class CompletionRequest:
    prompt: str
    suffix: str | None
    params: dict[str, Any]
    model: str | None
    stream: bool = False
    include_usage: bool = False
    id: str = field(default_factory=lambda: f"cmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


def _refuse(name: str, why: str) -> InvalidInput:
    return InvalidInput(f"{name!r} {why}", code="unsupported")


def _prompt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    if isinstance(value, list) and len(value) > 1 and all(isinstance(v, str) for v in value):
        raise _refuse("prompt", "holds several prompts; send one per request")
    if isinstance(value, list) and value and all(isinstance(v, (int, list)) for v in value):
        raise _refuse("prompt", "holds token ids; send text")
    raise InvalidInput("'prompt' must be a string", code="invalid_type")


def parse_completion_request(data: dict[str, Any], *, max_chars: int) -> CompletionRequest:
    """Validate a /v1/completions body; InvalidInput names the offending field."""
    if "prompt" not in data:
        raise InvalidInput("'prompt' is required", code="invalid_type")
    prompt = _prompt(data["prompt"])
    suffix = data.get("suffix")
    if suffix is not None and not isinstance(suffix, str):
        raise InvalidInput("'suffix' must be a string", code="invalid_type")
    if len(prompt) + len(suffix or "") > max_chars:
        raise PayloadTooLarge(f"the prompt and suffix hold more than {max_chars} characters")
    if data.get("echo"):
        raise _refuse("echo", "is not supported: the answer holds only the completion")
    if _int(data, "n", 1, 1_000) not in (None, 1):
        raise _refuse("n", "must be 1: one completion per request")
    if _int(data, "best_of", 1, 1_000) not in (None, 1):
        raise _refuse("best_of", "must be 1")
    if data.get("logprobs") is not None:
        raise _refuse("logprobs", "is not supported by this server")
    if data.get("logit_bias"):
        raise _refuse("logit_bias", "is not supported by this server")
    for penalty in ("presence_penalty", "frequency_penalty"):
        if _number(data, penalty, -2.0, 2.0):
            raise _refuse(penalty, "is not supported (only 0)")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidInput("'model' must be a string", code="invalid_type")
    stream = data.get("stream") or False
    if not isinstance(stream, bool):
        raise InvalidInput("'stream' must be true or false", code="invalid_type")
    opts = data.get("stream_options") or {}
    if not isinstance(opts, dict):
        raise InvalidInput("'stream_options' must be an object", code="invalid_type")

    params: dict[str, Any] = {"max_tokens": _int(data, "max_tokens", 1, 1_000_000) or DEFAULT_MAX_TOKENS}
    if (temperature := _number(data, "temperature", 0.0, 2.0)) is not None:
        params["temperature"] = temperature
    if (top_p := _number(data, "top_p", 0.0, 1.0)) is not None:
        params["top_p"] = top_p
    if (seed := _int(data, "seed", -(2**63), 2**63 - 1)) is not None:
        params["seed"] = seed
    stop = data.get("stop")
    if stop is not None:
        stop = [stop] if isinstance(stop, str) else stop
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 16:
            raise InvalidInput("'stop' must be a string or a list of non-empty strings")
        if stop:
            params["stop"] = stop
    return CompletionRequest(
        prompt=prompt,
        suffix=suffix or None,
        params=params,
        model=model,
        stream=stream,
        include_usage=bool(opts.get("include_usage", False)),
    )


def _choice(text: str, finish_reason: Any) -> dict[str, Any]:
    finish = None if finish_reason is None else FINISH_MAP.get(str(finish_reason), "stop")
    return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}


def completion(
    req: CompletionRequest, model: str, text: str, finish_reason: Any, metrics: dict[str, Any]
) -> dict:
    return {
        "id": req.id,
        "object": "text_completion",
        "created": req.created,
        "model": model,
        "system_fingerprint": None,
        "choices": [_choice(text, finish_reason or "stop")],
        "usage": usage(metrics),
    }


def chunk(req: CompletionRequest, model: str, text: str | None, finish_reason: Any = None) -> dict:
    """A streamed piece; ``text=None`` is the trailing usage chunk (no choices)."""
    body: dict[str, Any] = {
        "id": req.id,
        "object": "text_completion",
        "created": req.created,
        "model": model,
        "system_fingerprint": None,
        "choices": [] if text is None else [_choice(text, finish_reason)],
    }
    if req.include_usage:
        body["usage"] = None
    return body
