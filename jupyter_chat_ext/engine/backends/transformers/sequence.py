"""One request inside the transformers batch: its own sampler and seed on top of a TokenStream.

Per-request logits processors and ``torch.Generator`` (so a seeded request is reproducible and
requests never mix); detokenisation, stop strings and metrics come from ``TokenStream``. The
batcher passes what a sequence needs (tokenizer, emit) in, so this module never imports it.
"""

from __future__ import annotations

from typing import Any

from ..base import GenRequest
from ..textstream import Emit, TokenStream


class Seq(TokenStream):
    """A request inside the batch: its tokens, sampler and streaming state."""

    def __init__(self, req: GenRequest, *, tokenizer: Any, emit: Emit, model_id: str, device: str) -> None:
        import torch
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        super().__init__(
            req,
            decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=True),
            emit=emit,
            model_id=model_id,
            device=device,
        )
        self.last: int = -1
        opts = req.options
        self.seed = opts.seed if opts.seed is not None else int(torch.randint(0, 2**62, (1,)).item())
        self.extra_metrics["seed"] = self.seed
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

    def sample(self, logits: Any) -> int:
        import torch

        if self.req.structured is not None and self.req.structured.masking:
            # grammar first (forbidden tokens to -inf), then this request's own processors and seed
            logits = self.req.structured.mask_torch(logits)
        if self.processors:
            history = torch.tensor([self.req.prompt_ids + self.tokens]) if self.uses_history else None
            if history is None:
                history = torch.empty((1, 0), dtype=torch.long)
            logits = self.processors(history, logits)
        if self.greedy:
            return int(torch.argmax(logits, dim=-1).item())
        probs = torch.softmax(logits, dim=-1)
        return int(torch.multinomial(probs, 1, generator=self.generator).item())
