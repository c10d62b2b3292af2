"""Dynamic batching decode loop for one loaded model, on its own worker thread.

Requests join the running batch between decode steps: a new request is prefilled alone, then its
KV cache is merged into the batch cache (both left-padded to a common length, the padding masked
out). Every step decodes one token for every active request in one forward pass; finished or
cancelled rows are dropped from the cache right away, and columns that became padding for every
row are trimmed. Each request keeps its own sampling settings and ``torch.Generator``, so a seeded
request is reproducible and requests never mix: in float32 the same tokens alone or beside any
others (tests/core/test_transformers_sampling.py); in bfloat16 a padded batch rounds the logits a
little differently from a lone row, which can move a sampled draw (greedy held in our checks).

Why our own loop rather than transformers' continuous-batching manager (5.25,
``model.init_continuous_batching``; checked by running it, bench/bench_hf_batching.py): it samples
every row in one ``torch.multinomial`` call on torch's global generator, seeded once per manager
(``ContinuousBatchingConfig.seed``, which also reseeds the whole process), so a seeded request gives
other tokens as soon as anything runs beside it; greedy vs sampling is one setting per manager;
per request it takes temperature/top-k/top-p only (repetition penalty is dropped) and has no hook
for a per-request logits mask, so no structured output or tool calls; on a CPU it sizes its paged
KV cache at 90 % of free system RAM unless told. On this CPU ours is also faster (the module
docs of bench_hf_batching.py and docs/architecture.md have the figures); on CUDA
bench/bench_gpu.py's ``compare`` step decides.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from ....errors import ModelError
from ..base import GenRequest, error_event
from ..worker import GenerationWorker
from .sequence import Seq

__all__ = ["Batcher", "GenRequest"]

log = logging.getLogger(__name__)


class Batcher(GenerationWorker):
    """Owns a model's generation: a FIFO queue, a batch of active sequences, one worker thread."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_id: str,
        device: str,
        eos_token_ids: list[int],
        context_length: int,
        max_batch_size: int = 8,
        max_queue: int = 32,
    ) -> None:
        super().__init__(model_id=model_id, max_queue=max_queue, thread_name=f"chat-ext-batcher-{model_id}")
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.eos = set(eos_token_ids)
        self.context_length = context_length
        self.max_batch_size = max(1, max_batch_size) if self._cache_is_mergeable() else 1
        self._active: list[Seq] = []
        self._cache: Any = None
        self._mask: Any = None
        #: how long an idle batcher waits for companions of a first request (prefilled together)
        self.coalesce_s = 0.004
        self.start()

    # -- public -----------------------------------------------------------------------------
    @property
    def active_count(self) -> int:
        return len(self._active)

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            for req in self._pending:
                req.cancel()
            for seq in self._active:
                seq.req.cancel()
            self._cond.notify_all()
        self._thread.join(timeout)

    def _seq(self, req: GenRequest) -> Seq:
        return Seq(req, tokenizer=self.tokenizer, emit=self.emit, model_id=self.model_id, device=self.device)

    # -- worker -----------------------------------------------------------------------------
    def _cache_is_mergeable(self) -> bool:
        cfg = getattr(self.model, "config", None)
        text_cfg = getattr(cfg, "text_config", None) or cfg
        layer_types = getattr(text_cfg, "layer_types", None) or []
        sliding = getattr(text_cfg, "sliding_window", None)
        return not (sliding and any("sliding" in str(t) for t in layer_types))

    def _run(self) -> None:
        import torch

        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._pending and not self._active and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        break
                    if not self._active and len(self._pending) < self.max_batch_size:
                        # idle: give requests sent together a moment to arrive together
                        self._cond.wait(self.coalesce_s)
                    admit: list[GenRequest] = []
                    while self._pending and len(self._active) + len(admit) < self.max_batch_size:
                        admit.append(self._pending.popleft())
                try:
                    live = []
                    for req in admit:
                        if req.cancelled.is_set():
                            self.emit(req, self._seq(req).done_event("cancelled"))
                        else:
                            live.append(req)
                    if live:
                        self._prefill(live)
                    if self._active:
                        self._step()
                except Exception as exc:  # fail the batch, keep serving
                    log.exception("generation failed")
                    self._fail_all(exc)
        self._drain_closed()

    def _drain_closed(self) -> None:
        for seq in self._active:
            self.emit(seq.req, seq.done_event("cancelled"))
        for req in self._pending:
            self.emit(req, self._seq(req).done_event("cancelled"))
        self._active, self._pending = [], collections.deque()
        self._cache = self._mask = None

    def _fail_all(self, exc: Exception) -> None:
        for seq in self._active:
            failure = ModelError(f"generation failed: {exc}", code="generation_failed")
            self.emit(seq.req, error_event(failure))
        self._active = []
        self._cache = self._mask = None

    def _prefill(self, reqs: list[GenRequest]) -> None:
        """Prefill newly admitted requests in one left-padded forward, then merge them in."""
        import torch
        from transformers import DynamicCache

        from .kv_cache import growing_cache

        seqs = [self._seq(r) for r in reqs]
        width = max(len(r.prompt_ids) for r in reqs)
        pad = self.tokenizer.pad_token_id or 0
        rows = [[pad] * (width - len(r.prompt_ids)) + r.prompt_ids for r in reqs]
        ids = torch.tensor(rows, device=self.device)
        mask = torch.tensor(
            [[0] * (width - len(r.prompt_ids)) + [1] * len(r.prompt_ids) for r in reqs], device=self.device
        )
        kwargs: dict[str, Any] = {}
        if len(reqs) > 1:
            kwargs["attention_mask"] = mask
            kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = (
            growing_cache(self.model.config)
            if self.max_batch_size > 1
            else DynamicCache(config=self.model.config)
        )
        out = self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1, **kwargs)
        logits = out.logits[:, -1, :].float()
        self._merge(out.past_key_values, mask, seqs)
        finished = []
        for i, seq in enumerate(seqs):
            token = seq.sample(logits[i : i + 1])
            seq.push(token, self.eos, self.context_length)
            seq.last = token
            if seq.finish:
                finished.append(seq)
        if finished:
            self._retire(finished)

    def _merge(self, cache: Any, new_mask: Any, seqs: list[Seq]) -> None:
        import torch
        import torch.nn.functional as F

        from .kv_cache import growing_cache

        if self._cache is None or not self._active:
            self._cache, self._mask, self._active = cache, new_mask, list(seqs)
            return
        cur, length = self._mask.shape[1], new_mask.shape[1]
        total = max(cur, length)
        layers = []
        for old, new in zip(self._cache.layers, cache.layers, strict=True):
            k_old = F.pad(old.keys, (0, 0, total - cur, 0))
            v_old = F.pad(old.values, (0, 0, total - cur, 0))
            k_new = F.pad(new.keys, (0, 0, total - length, 0))
            v_new = F.pad(new.values, (0, 0, total - length, 0))
            layers.append((torch.cat([k_old, k_new]), torch.cat([v_old, v_new])))
        self._cache = growing_cache(self.model.config, layers)
        self._mask = torch.cat([F.pad(self._mask, (total - cur, 0)), F.pad(new_mask, (total - length, 0))])
        self._active.extend(seqs)

    def _step(self) -> None:
        import torch

        cancelled = [s for s in self._active if s.req.cancelled.is_set()]
        if cancelled:
            for s in cancelled:
                s.finish = "cancelled"
            self._retire(cancelled)
            if not self._active:
                return
        batch = self._active
        ids = torch.tensor([[s.last] for s in batch], device=self.device)
        pos = torch.tensor([[s.pos - 1] for s in batch], device=self.device)
        self._mask = torch.cat([self._mask, self._mask.new_ones((len(batch), 1))], dim=1)
        out = self.model(
            input_ids=ids,
            attention_mask=self._mask,
            position_ids=pos,
            past_key_values=self._cache,
            use_cache=True,
        )
        self._cache = out.past_key_values
        logits = out.logits[:, -1, :].float()
        self.steps += 1
        self.batch_size_sum += len(batch)
        finished = []
        for i, s in enumerate(batch):
            if s.req.cancelled.is_set():
                s.finish = "cancelled"
            else:
                token = s.sample(logits[i : i + 1])
                s.push(token, self.eos, self.context_length)
                s.last = token
            if s.finish:
                finished.append(s)
        if finished:
            self._retire(finished)

    def _retire(self, finished: list[Seq]) -> None:
        import torch

        for s in finished:
            self.emit(s.req, s.done_event(s.finish or "stop"))
        keep = [i for i, s in enumerate(self._active) if s not in finished]
        self._active = [self._active[i] for i in keep]
        if not self._active:
            self._cache = self._mask = None
            return
        index = torch.tensor(keep, device=self.device)
        self._cache.batch_select_indices(index)
        self._mask = self._mask[index]
        # drop leading columns that are padding for every remaining row
        real = self._mask.sum(dim=0) > 0
        first = int(torch.nonzero(real)[0].item()) if bool(real.any()) else 0
        if first > 0:
            self._mask = self._mask[:, first:]
            for layer in self._cache.layers:
                layer.trim_left(first)
