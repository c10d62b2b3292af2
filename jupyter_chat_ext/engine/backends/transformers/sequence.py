"""One request inside the transformers batch: its own sampler and seed on top of a TokenStream.

Per-request sampling settings and ``torch.Generator`` (so a seeded request is reproducible and
requests never mix; the draw itself is sampling.py's); detokenisation, stop strings and metrics
come from ``TokenStream``. The batcher passes what a sequence needs (tokenizer, emit) in, so this
module never imports it.
"""

from __future__ import annotations

from typing import Any

from ..base import GenRequest
from ..textstream import Emit, TokenStream
from .sampling import sample_token


class Seq(TokenStream):
    """A request inside the batch: its tokens, sampler and streaming state."""

    def __init__(self, req: GenRequest, *, tokenizer: Any, emit: Emit, model_id: str, device: str) -> None:
        import torch
        from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

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
        self.temperature, self.top_k, self.top_p = opts.temperature, opts.top_k, opts.top_p
        procs = LogitsProcessorList()
        if opts.repetition_penalty != 1.0:
            procs.append(RepetitionPenaltyLogitsProcessor(opts.repetition_penalty))
        self.processors = procs

    def sample(self, logits: Any) -> int:
        import torch

        if self.req.structured is not None and self.req.structured.masking:
            # grammar first (forbidden tokens to -inf), then this request's own processors and seed
            logits = self.req.structured.mask_torch(logits)
        if self.processors:  # repetition penalty: it reads the request's tokens so far
            history = torch.tensor([self.req.prompt_ids + self.tokens], device=logits.device)
            logits = self.processors(history, logits)
        if self.greedy:
            return int(torch.argmax(logits, dim=-1).item())
        return sample_token(
            logits, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, generator=self.generator
        )
