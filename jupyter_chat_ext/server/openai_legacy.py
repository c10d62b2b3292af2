"""OpenAI's legacy ``/v1/completions`` shapes (pure functions, no I/O).

Editors and tools that complete code (and lm-eval's ``local-completions``) still speak it: a raw
``prompt`` (plus ``suffix`` for fill-in-the-middle), answers in ``choices[].text``. The request is
declared and validated in ``wire/openai.py`` (``V1CompletionRequest``: fields we cannot honour are
refused there with a 400, never ignored); answers are dicts in the shape of openai's ``Completion``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jupyter_chat_ext.errors import PayloadTooLarge

from .openai_compat import FINISH_MAP, usage

if TYPE_CHECKING:  # the openai package loads with the first /v1 request (handlers_openai.v1_shape)
    from jupyter_chat_ext.wire.openai import V1CompletionRequest


@dataclass
class LegacyRequest:
    """The core's view of a validated /v1/completions body."""

    prompt: str
    suffix: str | None
    params: dict[str, Any]
    model: str | None
    stream: bool = False
    include_usage: bool = False
    id: str = field(default_factory=lambda: f"cmpl-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))


def legacy_request(body: V1CompletionRequest, *, max_chars: int) -> LegacyRequest:
    """413 past ``max_chars`` (the server's setting); the rest was checked at the door."""
    if len(body.prompt) + len(body.suffix or "") > max_chars:
        raise PayloadTooLarge(f"the prompt and suffix hold more than {max_chars} characters")
    return LegacyRequest(
        prompt=body.prompt,
        suffix=body.suffix or None,
        params={"max_tokens": body.max_tokens, **body.sampling()},
        model=body.model,
        stream=bool(body.stream),
        include_usage=body.include_usage,
    )


def _choice(text: str, finish_reason: Any) -> dict[str, Any]:
    finish = None if finish_reason is None else FINISH_MAP.get(str(finish_reason), "stop")
    return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}


def completion(
    req: LegacyRequest, model: str, text: str, finish_reason: Any, metrics: dict[str, Any]
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


def chunk(req: LegacyRequest, model: str, text: str | None, finish_reason: Any = None) -> dict:
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
