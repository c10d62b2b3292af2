"""The llama.cpp decode loop: parallel slots in one ``llama_batch``, as llama.cpp's server does.

Each slot is one llama.cpp sequence (``seq_id``) of a KV lane (``llamacpp_lanes``: one llama.cpp
context each) with its own sampler chain and seed. Every step builds one batch per lane that has
work: the next token of every generating slot, then prompt chunks of newly admitted slots (up to
``n_batch`` tokens in all), decodes it once, and samples each slot that asked for logits. So
concurrent chats share every forward pass instead of queueing one after another. At most
``n_slots`` requests run at once, whatever their lanes.

Prompt/KV reuse: a slot keeps the tokens whose KV is still in memory after its request ends. A new
request goes to the first lane it fits (growing it if needed), to the free slot there sharing the
longest prefix with its prompt (a follow-up turn of the same chat finds its own history), only the
rest of the prompt is evaluated, and the slot's KV past the common prefix is dropped.
``tokens_reused`` counts the prompt tokens that were not recomputed.

Fairness: while any chat decodes, a step's prompt tokens (all lanes together) are capped by
``llamacpp_pacing.PrefillPacer`` so the chats waiting for their next token wait about
``STEP_BUDGET_S`` a step, not the ~2 s of a 512-token chunk of a long prompt.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from typing import Any, NamedTuple

from ...errors import Busy, ModelError, PayloadTooLarge
from . import llamacpp_lanes, llamacpp_pacing
from . import llamacpp_native as native
from .base import GenRequest, error_event
from .llamacpp_lanes import REUSE_PREFERENCE, KvLane, Slot
from .llamacpp_pacing import PrefillPacer
from .textstream import TokenStream
from .worker import GenerationWorker

log = logging.getLogger(__name__)


class Built(NamedTuple):
    """One lane's batch as ``DecodeLoop._build`` filled it."""

    wants: list[tuple[Slot, int]]  # (slot, batch index) of the slots whose logits are sampled
    added: collections.Counter[int]  # tokens added per sequence
    read: int  # prompt tokens added
    cut: bool  # the cap left a prompt (partly) unread
    whole: int  # short prompts added whole beside decoding chats


class DecodeLoop(GenerationWorker):
    def __init__(
        self,
        lanes: list[KvLane],
        vocab: native.Vocab,
        *,
        model_id: str,
        device: str,
        n_slots: int,
        n_batch: int,
        context_length: int,
        max_queue: int,
    ) -> None:
        super().__init__(model_id=model_id, max_queue=max_queue, thread_name=f"llamacpp-{model_id}")
        self.ll = native.lib()
        self.lanes = lanes
        self.vocab = vocab
        self.eog = native.EndOfGeneration(vocab)
        self.device = device
        self.n_slots = n_slots
        self.context_length = context_length
        self.batch = self.ll.llama_batch_init(n_batch, 0, 1)
        self.tokens_reused = 0
        self.prompt_tokens_evaluated = 0
        self.moved_to_long = 0  # chats that outgrew their short slot and went on in the long lane
        self.pacer = PrefillPacer(n_batch, llamacpp_pacing.STEP_BUDGET_S)
        self.start()

    # -- public -------------------------------------------------------------------------------
    @property
    def slots(self) -> list[Slot]:
        return [s for lane in self.lanes for s in lane.slots]

    @property
    def active_count(self) -> int:
        return sum(1 for s in self.slots if s.req is not None)

    @property
    def n_cells(self) -> int:
        return sum(lane.n_cells for lane in self.lanes)

    @property
    def pool_grown(self) -> int:
        return sum(lane.grown for lane in self.lanes)

    def layout_stats(self) -> dict[str, Any]:
        return {
            "kv_cells": self.n_cells,
            "kv_lanes": [lane.stats() for lane in self.lanes],
            **self.pacer.stats(),
        }

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        self.ll.llama_batch_free(self.batch)
        for lane in self.lanes:
            lane.close()

    # -- helpers ------------------------------------------------------------------------------
    def _decode_text(self) -> Any:
        pieces: list[bytes] = []

        def decode(tokens: list[int]) -> str:
            while len(pieces) < len(tokens):
                pieces.append(self.vocab.piece(tokens[len(pieces)]))
            return b"".join(pieces).decode("utf-8", "replace")

        return decode

    def _cancelled_event(self, req: GenRequest) -> dict[str, Any]:
        stream = TokenStream(req, decode=str, emit=self.emit, model_id=self.model_id, device=self.device)
        return stream.done_event("cancelled")

    def _release(self, slot: Slot, reason: str | None, error: Exception | None = None) -> None:
        """End the slot's request (done or error event); the slot keeps its KV for reuse.

        The slot is free before the event goes out: whoever reads the done event sees it free.
        """
        req, stream = slot.req, slot.stream
        if slot.chain is not None:
            self.ll.llama_sampler_free(slot.chain)
        slot.req = slot.stream = slot.chain = None
        slot.pending, slot.last = [], None
        slot.last_used = time.monotonic()
        if req is not None and stream is not None:
            if error is not None:
                failure = error if isinstance(error, (Busy, ModelError)) else ModelError(str(error))
                self.emit(req, error_event(failure) | {"text": stream.text[: stream.emitted]})
            else:
                self.emit(req, stream.done_event(reason or "stop"))

    def _logits(self, lane: KvLane, index: int) -> Any:
        """The batch row's logits as a writable numpy view (llama.cpp owns the memory)."""
        import numpy as np

        ptr = self.ll.llama_get_logits_ith(lane.ctx, index)
        return np.ctypeslib.as_array(ptr, shape=(self.vocab.n_vocab,))

    # -- admission ----------------------------------------------------------------------------
    def _place(self, req: GenRequest) -> KvLane | None:
        """The first lane ``req`` fits (grown or made if needed); None: refused (413) already."""
        problem, need = "", 0
        for lane in self.lanes:
            if not lane.has_free():  # more chats than short slots: the others go long
                continue
            need = lane.need(req, self.context_length)
            problem = lane.room_for(need) or ""
            if not problem:
                return lane
        self._refuse(req, f"the prompt needs {need} tokens of KV cache; {problem}")
        return None

    def _admit(self, req: GenRequest) -> None:
        lane = self._place(req)
        if lane is None:
            return
        prompt = req.prompt_ids
        slot, shared = lane.best_free(prompt)
        longer = lane.overflow
        if (
            longer is not None
            and longer.ctx is not None
            and longer.need(req, self.context_length) <= longer.seq_cells
        ):
            there, theirs = longer.best_free(prompt)  # e.g. a long chat's turn that fits a short slot
            if there is not None and theirs >= shared + REUSE_PREFERENCE:
                slot = there
        assert slot is not None  # at most n_slots run, and every lane has n_slots slots
        keep = slot.lane.seat(slot, prompt)
        self.tokens_reused += keep
        opts = req.options
        seed = opts.seed if opts.seed is not None else int.from_bytes(os.urandom(8), "little") >> 2
        slot.chain = native.sampler_chain(opts, seed, prompt, self.vocab.n_vocab)
        slot.stream = TokenStream(
            req, decode=self._decode_text(), emit=self.emit, model_id=self.model_id, device=self.device
        )
        slot.stream.extra_metrics.update(seed=seed, cached_prompt_tokens=keep)
        slot.req = req

    def _move(self, slot: Slot, dest: KvLane) -> None:
        """A running chat that outgrew its slot goes on in ``dest``: its tokens are read again there."""
        req = slot.req
        assert req is not None
        tokens = slot.held
        problem = dest.room_for(min(self.context_length, len(req.prompt_ids) + req.max_new_tokens))
        there, _ = dest.best_free(tokens)
        if problem or there is None:  # no room to go on: the answer ends here, as a full context ends it
            log.info("a chat of %s could not move to the %s KV lane: %s", self.model_id, dest.name, problem)
            self._release(slot, "length")
            return
        dest.seat(there, tokens)
        there.req, there.stream, there.chain = slot.req, slot.stream, slot.chain
        there.last = None
        slot.req = slot.stream = slot.chain = None
        slot.pending, slot.last = [], None
        slot.last_used = time.monotonic()
        self.moved_to_long += 1

    # -- the loop -----------------------------------------------------------------------------
    def _idle_wait(self) -> float | None:
        """Free the on-demand lanes idle long enough; seconds until the next one is due (None: none)."""
        now, idle_s = time.monotonic(), llamacpp_lanes.IDLE_FREE_S
        due = []
        for lane in self.lanes:
            if not lane.free_if_idle(now, idle_s) and lane.on_demand and lane.ctx is not None:
                due.append(lane.last_used + idle_s - now)
        return max(0.0, min(due)) + 0.01 if due else None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self.active_count and not self._closed:
                    wait = self._idle_wait()
                    self._cond.wait(wait)
                if self._closed:
                    break
                admit = []
                while self._pending and len(admit) < self.n_slots - self.active_count:
                    admit.append(self._pending.popleft())
            try:
                for req in admit:
                    if req.cancelled.is_set():
                        self.emit(req, self._cancelled_event(req))
                    else:
                        self._admit(req)
                for slot in self.slots:
                    if slot.req is not None and slot.req.cancelled.is_set():
                        self._release(slot, "cancelled")
                if self.active_count:
                    self._step()
                    self._idle_wait()
            except Exception as exc:  # fail the batch, keep serving
                log.exception("llama.cpp generation failed")
                self._fail_all(exc)
        for slot in self.slots:
            if slot.req is not None:
                self._release(slot, "cancelled")
        for req in self._pending:
            self.emit(req, self._cancelled_event(req))
        self._pending.clear()

    def _refuse(self, req: GenRequest, message: str) -> None:
        self.emit(req, error_event(PayloadTooLarge(message, code="prompt_too_long")) | {"text": ""})

    def _fail_all(self, exc: Exception) -> None:
        err = ModelError(f"generation failed: {exc}", code="generation_failed")
        for lane in self.lanes:
            for slot in lane.slots:
                if slot.req is not None:
                    self._release(slot, None, err)
                lane.forget(slot)

    def _outgrow(self, lane: KvLane) -> None:
        """Split streams: chats about to pass their slot's cells grow the lane (all its running
        chats are then read again) or, at its cap, move to the overflow lane."""
        over = [s for s in lane.active() if s.n_held > lane.seq_cells]
        if over and lane.can_grow:
            lane.grow(max(s.n_held for s in over))
        for slot in over:
            if slot.n_held <= lane.seq_cells:
                continue
            if lane.overflow is not None:
                self._move(slot, lane.overflow)
            else:  # a split slot's slice is the chat's context: the answer ends here
                self._release(slot, "length")

    def _build(self, lane: KvLane, room: int | None, whole_room: int) -> Built:
        """Fill the batch with the lane's work: decoding slots' next tokens, then prompt chunks.

        ``room``: the prompt tokens the step may still read (None: no cap, up to the lane's
        batch). Capped, a short prompt nothing of which is read yet goes whole if it fits
        ``whole_room`` (the step's allowance for whole reads), else waits for a later step whole;
        long prompts are cut to what ``room`` leaves."""
        b, n, wants = self.batch, 0, []
        added = collections.Counter[int]()

        def add(slot: Slot, token: int, logits: bool) -> None:
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

        active = lane.active()
        for slot in active:  # decoding slots first: one token each, every step
            if slot.last is not None:
                add(slot, slot.last, True)
        decoded, cut, whole = n, False, 0
        limit = lane.n_batch if room is None else min(lane.n_batch, n + room)
        if room is not None:  # capped: the shortest prompts first (a new question beside a long read)
            active.sort(key=lambda s: len(s.pending))
        for slot in active:  # then prompt chunks in what room is left
            if not slot.pending:
                continue
            if room is not None and self.pacer.whole(len(slot.pending), slot.seated):
                if n + len(slot.pending) > lane.n_batch or n - decoded + len(slot.pending) > whole_room:
                    cut = True  # no room for it whole in this step: whole in a later one
                    continue
                chunk, whole = slot.pending, whole + 1
            else:
                chunk = slot.pending[: max(0, limit - n)]
                cut = cut or (len(chunk) < len(slot.pending) and limit < lane.n_batch)
            for i, token in enumerate(chunk):
                add(slot, token, i == len(chunk) - 1 and len(chunk) == len(slot.pending))
        b.n_tokens = n
        return Built(wants, added, n - decoded, cut, whole)

    def _step(self) -> None:
        sequences, cut = 0, False
        room = self.pacer.allowance(any(s.last is not None for s in self.slots))
        # short prompts read whole beside decoding chats: together at most this many tokens a step
        whole_room = 0 if room is None else max(room, llamacpp_pacing.WHOLE_STEP)
        for lane in self.lanes:
            if lane.active() and not lane.unified:
                self._outgrow(lane)
            if lane.active():
                n_seq, read, lane_cut = self._step_lane(lane, room, whole_room)
                sequences += n_seq
                cut = cut or lane_cut
                room = None if room is None else max(0, room - read)
                whole_room = max(0, whole_room - read)
        if sequences:
            self.steps += 1
            self.batch_size_sum += sequences
        if cut:
            self.pacer.capped_steps += 1

    def _step_lane(self, lane: KvLane, room: int | None, whole_room: int) -> tuple[int, int, bool]:
        """One decode of the lane's batch: the number of sequences it carried, prompt tokens read,
        whether the cap left a prompt (partly) unread."""
        built = self._build(lane, room, whole_room)
        wants, added, read, cut = built.wants, built.added, built.read, built.cut
        if not self.batch.n_tokens:  # prompts only, and the step's prompt allowance is spent
            return 0, 0, cut
        lane.last_used = time.monotonic()
        started = time.perf_counter()
        rc = self.ll.llama_decode(lane.ctx, self.batch)
        if rc == 0:  # (on a GPU decode may return before the work ends: reading then looks fast)
            self.pacer.measured(self.batch.n_tokens, read, time.perf_counter() - started)
        if rc == 1:  # no room in the KV cache: drop idle slots' cached prefixes and retry once
            for slot in lane.slots:
                if slot.req is None and slot.cached:
                    lane.forget(slot)
            rc = self.ll.llama_decode(lane.ctx, self.batch)
            if rc == 1 and lane.can_grow and lane.grow(lane.n_cells + 1) is None:
                return 0, 0, False  # the running chats filled the pool: the next steps re-read them, bigger
            if rc == 1:
                victim = max(lane.active(), key=lambda s: len(s.cached))
                self._release(
                    victim, None, Busy("the model's context is full with other chats; retry shortly")
                )
                lane.forget(victim)
                return 0, 0, False
        if rc != 0:
            raise ModelError(f"llama_decode returned {rc}")
        self.pacer.whole_reads += built.whole
        for slot in lane.slots:
            count = added.get(slot.seq, 0)
            if not count:
                continue
            if slot.last is not None:
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
                slot.req.structured.mask_numpy(self._logits(lane, index))
            token = int(self.ll.llama_sampler_sample(slot.chain, lane.ctx, index))
            slot.stream.push(token, self.eog, self.context_length)  # type: ignore[arg-type]
            if slot.stream.finish:
                self._release(slot, slot.stream.finish)
            else:
                slot.last = token
        return len(added), read, cut
