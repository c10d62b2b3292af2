"""One request inside the batch: its prompt, its own sampler and seed, stop strings and streaming state.

``GenRequest`` is what a caller submits; ``Seq`` is the batcher's view of it while it decodes:
per-request logits processors and ``torch.Generator`` (so a seeded request is reproducible and
requests never mix), incremental detokenisation, stop-string hold-back, and the final metrics.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .options import GenerationOptions

if TYPE_CHECKING:
    from .batcher import Batcher

Sink = Callable[[dict[str, Any]], None]
_ids = itertools.count(1)


@dataclass
class GenRequest:
    """One generation request as the batcher sees it."""

    prompt_ids: list[int]
    options: GenerationOptions
    max_new_tokens: int
    sink: Sink
    id: int = field(default_factory=lambda: next(_ids))
    cancelled: threading.Event = field(default_factory=threading.Event)
    t_submit: float = field(default_factory=time.perf_counter)

    def cancel(self) -> None:
        self.cancelled.set()


class Seq:
    """A request inside the batch: its tokens, sampler and streaming state."""

    def __init__(self, req: GenRequest, batcher: Batcher) -> None:
        import torch
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        self.req = req
        self.tokens: list[int] = []
        self.pos = len(req.prompt_ids)
        self.emitted = 0
        self.text = ""
        self.t_first: float | None = None
        self.finish: str | None = None
        opts = req.options
        self.seed = opts.seed if opts.seed is not None else int(torch.randint(0, 2**62, (1,)).item())
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.greedy = opts.temperature == 0
        procs = LogitsProcessorList()
        if opts.repetition_penalty != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(opts.repetition_penalty))
        if not self.greedy:
            procs.append(TemperatureLogitsWarper(opts.temperature))
            if opts.top_k:
                procs.append(TopKLogitsWarper(opts.top_k))
            if opts.top_p < 1.0:
                procs.append(TopPLogitsWarper(opts.top_p))
        self.processors = procs
        self.uses_history = opts.repetition_penalty != 1.0
        self.stops = list(opts.stop)
        self.batcher = batcher

    def sample(self, logits: Any) -> int:
        import torch

        if self.processors:
            history = torch.tensor([self.req.prompt_ids + self.tokens]) if self.uses_history else None
            if history is None:
                history = torch.empty((1, 0), dtype=torch.long)
            logits = self.processors(history, logits)
        if self.greedy:
            return int(torch.argmax(logits, dim=-1).item())
        probs = torch.softmax(logits, dim=-1)
        return int(torch.multinomial(probs, 1, generator=self.generator).item())

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
        self.text = self.batcher.tokenizer.decode(self.tokens, skip_special_tokens=True)
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
        if end > self.emitted:
            self.batcher.emit(self.req, {"type": "token", "text": text[self.emitted : end]})
            self.emitted = end

    def done_event(self, reason: str) -> dict[str, Any]:
        now = time.perf_counter()
        n = len(self.tokens)
        t_first = self.t_first or now
        decode_s = now - t_first
        # decode rate after the first token; a one-token answer falls back to the overall rate
        tps = (n - 1) / decode_s if n >= 2 and decode_s > 0 else n / max(now - self.req.t_submit, 1e-9)
        return {
            "type": "done",
            "finish_reason": reason,
            "text": self.text[: self.emitted] if reason == "cancelled" else self.text,
            "metrics": {
                "prompt_tokens": len(self.req.prompt_ids),
                "completion_tokens": n,
                "ttft_s": round(t_first - self.req.t_submit, 6),
                "tokens_per_s": round(tps, 3),
                "total_s": round(now - self.req.t_submit, 6),
                "model": self.batcher.model_id,
                "device": self.batcher.device,
                "seed": self.seed,
            },
        }
