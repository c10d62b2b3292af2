"""Turning sampled token ids into streamed text: the part every local backend shares.

Incremental detokenisation (an incomplete UTF-8 sequence waits for the next token), stop strings
with hold-back (text that could still grow into a stop string is not streamed yet), the end
conditions (eos, stop, max tokens, context) and the final ``done`` event with its metrics.
The sampler lives in the backend; this class only sees token ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .base import GenRequest

Emit = Callable[[GenRequest, dict[str, Any]], None]


class TokenStream:
    def __init__(
        self,
        req: GenRequest,
        *,
        decode: Callable[[list[int]], str],
        emit: Emit,
        model_id: str,
        device: str,
        prompt_tokens: int | None = None,
    ) -> None:
        self.req = req
        self.decode = decode
        self.emit = emit
        self.model_id = model_id
        self.device = device
        self.prompt_tokens = len(req.prompt_ids) if prompt_tokens is None else prompt_tokens
        self.tokens: list[int] = []
        self.pos = len(req.prompt_ids)
        self.emitted = 0
        self.text = ""
        self.t_first: float | None = None
        self.finish: str | None = None
        self.stops = list(req.options.stop)
        #: extra figures a backend adds to the metrics (seed, cached prompt tokens, ...)
        self.extra_metrics: dict[str, Any] = {}

    def _stop_hold(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that could still grow into a stop string."""
        hold = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(text)), 0, -1):
                if text.endswith(stop[:k]):
                    hold = max(hold, k)
                    break
        return hold

    def push(self, token: int, eos: set[int], context_length: int) -> None:
        """Record a sampled token, stream new text, decide whether the sequence is finished."""
        now = time.perf_counter()
        if self.t_first is None:
            self.t_first = now
        if token in eos:
            self.finish = "stop"
            self._flush(final=True)
            return
        self.tokens.append(token)
        self.pos += 1
        self.text = self.decode(self.tokens)
        if self.req.structured is not None:  # grammar state, tool-call marker (structured_run.py)
            self.req.structured.observe(token, self.text)
        if self.stops:
            start = max(0, self.emitted - max(len(s) for s in self.stops))
            hits = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
            if hits:
                self.text = self.text[: min(hits)]
                self.finish = "stop"
                self._flush(final=True)
                return
        if len(self.tokens) >= self.req.max_new_tokens or self.pos >= context_length:
            self.finish = "length"
            self._flush(final=True)
            return
        self._flush(final=False)

    def _flush(self, final: bool) -> None:
        text = self.text
        end = len(text)
        if not final:
            if text.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next token
                end = len(text.rstrip("\ufffd"))
            end -= self._stop_hold(text[:end])
        if self.req.structured is not None:  # tool-call JSON never reaches token events
            end = min(end, self.req.structured.visible_end(text, final))
        if end > self.emitted:
            self.emit(self.req, {"type": "token", "text": text[self.emitted : end]})
            self.emitted = end
        if self.req.structured is not None:  # a tool call streams as OpenAI's deltas instead
            for delta in self.req.structured.call_deltas(text, final):
                self.emit(self.req, {"type": "tool_call", "delta": delta})

    def done_event(self, reason: str) -> dict[str, Any]:
        now = time.perf_counter()
        n = len(self.tokens)
        t_first = self.t_first or now
        decode_s = now - t_first
        # decode rate after the first token; a one-token answer falls back to the overall rate
        tps = (n - 1) / decode_s if n >= 2 and decode_s > 0 else n / max(now - self.req.t_submit, 1e-9)
        event = {
            "type": "done",
            "finish_reason": reason,
            "text": self.text[: self.emitted] if reason == "cancelled" else self.text,
            "metrics": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": n,
                "ttft_s": round(t_first - self.req.t_submit, 6),
                "tokens_per_s": round(tps, 3),
                "total_s": round(now - self.req.t_submit, 6),
                "model": self.model_id,
                "device": self.device,
                **self.extra_metrics,
            },
        }
        if self.req.structured is not None:  # parse a tool call out of the answer
            event = self.req.structured.finish(event)
        return event
