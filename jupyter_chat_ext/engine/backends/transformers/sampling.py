"""Drawing one token from one row of logits: temperature, top-k, top-p, a request's own generator.

transformers' warpers and ``torch.multinomial`` cost ~23 ms each per row over a 49k vocabulary on
this CPU (a full sort for top-p, multinomial's own setup), more than the 135M model's forward
pass, and they ran once per row per step (bench/bench_hf_batching.py: sampled decoding at 0.6x of
bare ``generate`` at 32 requests). Here top-p looks at the top 512 candidates (a full sort only
when they hold less than ``top_p`` of the mass) and the draw is one uniform number from the
request's ``torch.Generator`` against the cumulative probabilities (inverse CDF): the same
distribution as the warpers + multinomial, ~0.2 ms a row. The generator stays on the CPU whatever
the device, so a seed gives the same draws on a GPU (``multinomial`` on CUDA refuses a CPU
generator).

The order is transformers': temperature, then top-k, then top-p over what top-k kept.
"""

from __future__ import annotations

from typing import Any

import torch

#: candidates top-p looks at before it sorts the whole vocabulary
TOP_P_CANDIDATES = 512


def sample_token(
    logits: torch.Tensor, *, temperature: float, top_k: int, top_p: float, generator: torch.Generator
) -> int:
    """One token id drawn from a ``(vocab,)`` or ``(1, vocab)`` row of float logits."""
    row = logits.reshape(-1) / temperature
    vocab = row.shape[0]
    ids: Any = None  # candidate token ids, most probable first (None: the whole vocabulary, in order)
    if 0 < top_k < vocab:
        values, ids = torch.topk(row, top_k)
        probs = torch.softmax(values, dim=-1)
    else:
        probs = torch.softmax(row, dim=-1)
        if top_p < 1.0:
            probs, ids = torch.topk(probs, min(TOP_P_CANDIDATES, vocab))
            if float(probs.sum()) < top_p:  # a flat distribution: the nucleus is wider
                probs, ids = torch.sort(torch.softmax(row, dim=-1), descending=True)
    if top_p < 1.0:  # ids holds the candidates, most probable first
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the more probable candidates
        keep = max(1, int((before < top_p).sum()))  # the smallest prefix holding top_p
        probs, ids = probs[:keep], ids[:keep]
    cdf = torch.cumsum(probs, dim=-1)
    draw = torch.rand(1, generator=generator, dtype=cdf.dtype).to(cdf.device) * cdf[-1]
    index = min(int(torch.searchsorted(cdf, draw, right=True)), cdf.shape[0] - 1)
    return int(ids[index]) if ids is not None else index
