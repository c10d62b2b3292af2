"""The llama.cpp decode loop: parallel slots in one ``llama_batch``, as llama.cpp's server does.

Each slot is one llama.cpp sequence (``seq_id``) with its own sampler chain and seed. Every step
builds one batch: the next token of every generating slot, then prompt chunks of newly admitted
slots (up to ``n_batch`` tokens in all), decodes it once, and samples each slot that asked for
logits. So concurrent chats share every forward pass instead of queueing one after another.

Prompt/KV reuse: a slot keeps the tokens whose KV is still in memory after its request ends. A new
request goes to the free slot sharing the longest prefix with its prompt (a follow-up turn of the
same chat finds its own history), only the rest of the prompt is evaluated, and the slot's KV past
the common prefix is dropped. ``tokens_reused`` counts the prompt tokens that were not recomputed.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from ...errors import Busy, ModelError, PayloadTooLarge
from . import llamacpp_native as native
from .base import GenRequest, error_event
from .textstream import TokenStream
from .worker import GenerationWorker

log = logging.getLogger(__name__)


def _available_ram() -> int | None:
    """MemAvailable from /proc/meminfo (None where there is none: growth is then not checked)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class _Slot:
    seq: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV is in memory
    req: GenRequest | None = None
    stream: TokenStream | None = None
    chain: Any = None
    pending: list[int] = field(default_factory=list)  # prompt tokens still to evaluate
    last: int | None = None  # sampled, not yet decoded
    last_used: float = 0.0


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class DecodeLoop(GenerationWorker):
    def __init__(
        self,
        ctx: Any,
        vocab: native.Vocab,
        *,
        model_id: str,
        device: str,
        n_slots: int,
        n_batch: int,
        context_length: int,
        max_queue: int,
        n_cells: int | None = None,
        new_context: Any = None,
        free_context: Any = None,
        kv_cell_bytes: int = 0,
    ) -> None:
        super().__init__(model_id=model_id, max_queue=max_queue, thread_name=f"llamacpp-{model_id}")
        self.ll = native.lib()
        self.ctx = ctx
        self.mem = self.ll.llama_get_memory(ctx)
        self.vocab = vocab
        self.eog = native.EndOfGeneration(vocab)
        self.device = device
        self.batch_capacity = n_batch
        self.context_length = context_length
        #: KV cells of the context; with ``new_context`` (the unified pool) it grows up to
        #: ``context_length`` when one request needs more (``_grow``)
        self.n_cells = n_cells or context_length
        self._new_context, self._free_context = new_context, free_context
        self.kv_cell_bytes = kv_cell_bytes
        # llama.cpp clamps a context's batch to its cells (a bigger batch aborts the process)
        self.n_batch = min(n_batch, self.n_cells)
        self.pool_grown = 0
        self.slots = [_Slot(seq=i) for i in range(n_slots)]
        self.batch = self.ll.llama_batch_init(self.batch_capacity, 0, 1)
        self.tokens_reused = 0
        self.prompt_tokens_evaluated = 0
        self._added: collections.Counter[int] = collections.Counter()
        self.start()

    # -- public -------------------------------------------------------------------------------
    @property
    def active_count(self) -> int:
        return sum(1 for s in self.slots if s.req is not None)

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self.ll.llama_batch_free(self.batch)

    # -- helpers ------------------------------------------------------------------------------
    def _decode_text(self) -> Any:
        pieces: list[bytes] = []

        def decode(tokens: list[int]) -> str:
            while len(pieces) < len(tokens):
                pieces.append(self.vocab.piece(tokens[len(pieces)]))
            return b"".join(pieces).decode("utf-8", "replace")

        return decode

    def _release(self, slot: _Slot, reason: str | None, error: Exception | None = None) -> None:
        """End the slot's request (done or error event); the slot keeps its KV for reuse."""
        req, stream = slot.req, slot.stream
        if req is not None and stream is not None:
            if error is not None:
                failure = error if isinstance(error, (Busy, ModelError)) else ModelError(str(error))
                self.emit(req, error_event(failure) | {"text": stream.text[: stream.emitted]})
            else:
                self.emit(req, stream.done_event(reason or "stop"))
        if slot.chain is not None:
            self.ll.llama_sampler_free(slot.chain)
        slot.req = slot.stream = slot.chain = None
        slot.pending, slot.last = [], None
        slot.last_used = time.monotonic()

    def _logits(self, index: int) -> Any:
        """The batch row's logits as a writable numpy view (llama.cpp owns the memory)."""
        import numpy as np

        ptr = self.ll.llama_get_logits_ith(self.ctx, index)
        return np.ctypeslib.as_array(ptr, shape=(self.vocab.n_vocab,))

    def _forget(self, slot: _Slot) -> None:
        self.ll.llama_memory_seq_rm(self.mem, slot.seq, -1, -1)
        slot.cached = []

    # -- admission ----------------------------------------------------------------------------
    def _admit(self, req: GenRequest) -> None:
        free = [s for s in self.slots if s.req is None]
        prompt = req.prompt_ids
        slot = max(free, key=lambda s: (_common_prefix(s.cached, prompt), -s.last_used))
        keep = min(_common_prefix(slot.cached, prompt), len(prompt) - 1)  # >= 1 token to evaluate
        if not self.ll.llama_memory_seq_rm(self.mem, slot.seq, keep, -1):
            self._forget(slot)
            keep = 0
        slot.cached = slot.cached[:keep]
        slot.pending = prompt[keep:]
        self.tokens_reused += keep
        opts = req.options
        seed = opts.seed if opts.seed is not None else int.from_bytes(os.urandom(8), "little") >> 2
        slot.chain = native.sampler_chain(opts, seed, prompt, self.vocab.n_vocab)
        slot.stream = TokenStream(
            req, decode=self._decode_text(), emit=self.emit, model_id=self.model_id, device=self.device
        )
        slot.stream.extra_metrics.update(seed=seed, cached_prompt_tokens=keep)
        slot.req = req

    # -- the loop -----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self.active_count and not self._closed:
                    self._cond.wait()
                if self._closed:
                    break
                admit, grow = [], None
                while self._pending and len(admit) < sum(1 for s in self.slots if s.req is None):
                    if self._needs_room(self._pending[0]):
                        # a bigger pool means a new context: wait until the running chats end,
                        # and admit nobody ahead of the long request meanwhile
                        if self.active_count or admit:
                            break
                        grow = self._pending.popleft()
                        break
                    admit.append(self._pending.popleft())
            try:
                if grow is not None:
                    self._grow(grow)
                for req in admit:
                    if req.cancelled.is_set():
                        self.emit(
                            req,
                            TokenStream(
                                req, decode=str, emit=self.emit, model_id=self.model_id, device=self.device
                            ).done_event("cancelled"),
                        )
                    else:
                        self._admit(req)
                for slot in self.slots:
                    if slot.req is not None and slot.req.cancelled.is_set():
                        self._release(slot, "cancelled")
                if self.active_count:
                    self._step()
            except Exception as exc:  # fail the batch, keep serving
                log.exception("llama.cpp generation failed")
                self._fail_all(exc)
        for slot in self.slots:
            if slot.req is not None:
                self._release(slot, "cancelled")
        for req in self._pending:
            self.emit(
                req,
                TokenStream(
                    req, decode=str, emit=self.emit, model_id=self.model_id, device=self.device
                ).done_event("cancelled"),
            )
        self._pending.clear()

    def _need(self, req: GenRequest) -> int:
        return min(self.context_length, len(req.prompt_ids) + req.max_new_tokens)

    def _needs_room(self, req: GenRequest) -> bool:
        return self._new_context is not None and self._need(req) > self.n_cells and not req.cancelled.is_set()

    def _grow(self, req: GenRequest) -> None:
        """Rebuild the context with a pool big enough for ``req`` (no chat is running), then queue it.

        The pool at least doubles (so a few long chats cost few rebuilds) up to the model's context;
        idle slots' cached prefixes are lost with the old context. Growth that does not fit in free
        RAM, or that llama.cpp cannot allocate, refuses the request (413) and keeps the old pool.
        """
        need = self._need(req)
        cells = min(self.context_length, max(2 * self.n_cells, -(-need // 1024) * 1024))
        problem = self._rebuild(cells)
        if problem:
            self._refuse(req, f"the prompt needs {need} tokens of KV cache; {problem}")
            return
        with self._cond:  # first in line: nobody overtakes it before the next admission
            self._pending.appendleft(req)

    def _can_grow(self) -> bool:
        return self._new_context is not None and self.n_cells < self.context_length

    def _grow_running(self) -> bool:
        """The running chats together filled the pool: double it, and re-read what they had.

        Each running slot's evaluated tokens (and its sampled, not yet decoded token) go back in
        front of its pending ones, so the next steps recompute its KV in the bigger pool (once per
        growth) and sampling goes on where it was: the chats keep running instead of one of them
        being refused.
        """
        keep = {
            s.seq: s.cached + s.pending + ([s.last] if s.last is not None else [])
            for s in self.slots
            if s.req
        }
        old = self.ctx
        problem = self._rebuild(min(self.context_length, 2 * self.n_cells))
        if self.ctx is not old:  # a new context (even the old size after a failed grow): re-read
            for slot in self.slots:
                if slot.seq in keep:
                    slot.pending, slot.last = keep[slot.seq], None
            return True
        return problem is None

    def _rebuild(self, cells: int) -> str | None:
        """A new context of ``cells`` (every slot's KV is gone); a reason when it cannot be made."""
        extra = (cells - self.n_cells) * self.kv_cell_bytes
        available = _available_ram()
        if extra and available is not None and extra > available // 2:
            return (
                f"growing the KV pool to {cells} cells needs {extra / 2**20:.0f} MiB more than the "
                f"{self.n_cells} cells it has, and only {available / 2**20:.0f} MiB of RAM is free"
            )
        (self._free_context or self.ll.llama_free)(self.ctx)
        try:
            ctx = self._new_context(cells)
        except Exception as exc:
            self._set_context(self._new_context(self.n_cells), self.n_cells)  # back to what worked
            return f"the KV pool could not grow to {cells} cells: {exc}"
        log.info("KV pool of %s grown from %d to %d cells", self.model_id, self.n_cells, cells)
        self._set_context(ctx, cells)
        self.pool_grown += 1
        return None

    def _set_context(self, ctx: Any, cells: int) -> None:
        self.ctx, self.n_cells = ctx, cells
        self.n_batch = min(self.batch_capacity, cells)
        self.mem = self.ll.llama_get_memory(ctx)
        for slot in self.slots:
            slot.cached = []

    def _refuse(self, req: GenRequest, message: str) -> None:
        self.emit(req, error_event(PayloadTooLarge(message, code="prompt_too_long")) | {"text": ""})

    def _fail_all(self, exc: Exception) -> None:
        err = ModelError(f"generation failed: {exc}", code="generation_failed")
        for slot in self.slots:
            if slot.req is not None:
                self._release(slot, None, err)
            self._forget(slot)

    def _build(self) -> list[tuple[_Slot, int]]:
        """Fill the batch; returns (slot, batch index) for every slot that wants logits."""
        b, n, wants = self.batch, 0, []

        def add(slot: _Slot, token: int, logits: bool) -> None:
            nonlocal n
            b.token[n] = token
            b.pos[n] = len(slot.cached) + added[slot.seq]
            b.n_seq_id[n] = 1
            b.seq_id[n][0] = slot.seq
            b.logits[n] = logits
            if logits:
                wants.append((slot, n))
            added[slot.seq] += 1
            n += 1

        added = collections.Counter[int]()
        active = [s for s in self.slots if s.req is not None]
        for slot in active:  # decoding slots first: one token each, every step
            if slot.last is not None:
                add(slot, slot.last, True)
        for slot in active:  # then prompt chunks, oldest first, in what room is left
            if slot.pending and n < self.n_batch:
                chunk = slot.pending[: self.n_batch - n]
                for i, token in enumerate(chunk):
                    add(slot, token, i == len(chunk) - 1 and len(chunk) == len(slot.pending))
        b.n_tokens = n
        self._added = added
        return wants

    def _step(self) -> None:
        wants = self._build()
        rc = self.ll.llama_decode(self.ctx, self.batch)
        if rc == 1:  # no room in the KV cache: drop idle slots' cached prefixes and retry once
            for slot in self.slots:
                if slot.req is None and slot.cached:
                    self._forget(slot)
            rc = self.ll.llama_decode(self.ctx, self.batch)
            if rc == 1 and self._can_grow() and self._grow_running():
                return  # the next steps re-read the running chats into the bigger pool
            if rc == 1:
                victim = max((s for s in self.slots if s.req is not None), key=lambda s: len(s.cached))
                self._release(
                    victim, None, Busy("the model's context is full with other chats; retry shortly")
                )
                self._forget(victim)
                return
        if rc != 0:
            raise ModelError(f"llama_decode returned {rc}")
        self.steps += 1
        self.batch_size_sum += len(self._added)
        for slot in self.slots:
            count = self._added.get(slot.seq, 0)
            if not count:
                continue
            if slot.last is not None and count >= 1:
                slot.cached.append(slot.last)
                slot.last = None
                count -= 1
            if count:
                self.prompt_tokens_evaluated += count
                slot.cached.extend(slot.pending[:count])
                slot.pending = slot.pending[count:]
        for slot, index in wants:
            assert slot.req is not None and slot.stream is not None
            if slot.req.structured is not None and slot.req.structured.masking:
                # grammar first: forbidden tokens' logits go to -inf, then the slot's own chain samples
                slot.req.structured.mask_numpy(self._logits(index))
            token = int(self.ll.llama_sampler_sample(slot.chain, self.ctx, index))
            slot.stream.push(token, self.eog, self.context_length)  # type: ignore[arg-type]
            if slot.stream.finish:
                self._release(slot, slot.stream.finish)
            else:
                slot.last = token
