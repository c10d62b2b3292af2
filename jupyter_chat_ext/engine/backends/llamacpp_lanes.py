"""KV lanes of the llama.cpp backend: which llama.cpp context holds which chat's KV cache.

A lane is one llama.cpp context (its own KV cache) on the shared model, with its slots (one
sequence each). Attention cost is what picks the layout: in a *unified* context every decoded token
attends over the whole used cell range of every chat (their cells interleave, so the CPU attention
tiles cannot skip the masked ones); in a *split* context each sequence owns its own stream of cells
and attends only to them, which is llama-server's ``-np 8 -c 8192`` layout and the faster one once
several chats run (measured on the packaged model at 8 chats: split 1.035x llama-server, unified
0.87x), but a split stream caps its chat at its slice. ``Settings.kv_layout``:

- ``"auto"`` (the default): two lanes. A *short* lane, split, ``max_batch_size`` slots (at most 8)
  of 256 cells at load (8 x 256 = 2048 cells: the memory of the former default, since llama.cpp
  touches the whole KV buffer when it makes a context) growing to ``SHORT_SEQ_CELLS_MAX`` a slot;
  and a *long* lane, unified, made the first time a request needs more than a short slot can hold
  (or finds every short slot busy) and growing on demand up to the model's context: long prompts
  (an agent's tool schemas) and long chats live there, and their follow-up turns find their cached
  prefix there. A short chat whose answer outgrows its slot moves to the long lane (its tokens are
  read again there, once). Lanes only grow while used: no rebuild back and forth. A lane made on
  demand (the long one) is freed once no chat has used it for ``IDLE_FREE_S``, so its memory goes
  back; the next long chat makes it again.
- ``"unified"``: the long lane alone (2048 cells at load, growing up to the model's context).
- ``"split"``: the short lane alone at its full size, each chat capped at its slice.

Each decode step runs one ``llama_decode`` per lane that has work, so short chats keep the split
speed while a long chat runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import llamacpp_native as native
from .base import GenRequest
from .textstream import TokenStream

log = logging.getLogger(__name__)

#: cells a short-lane slot starts with (llama.cpp pads a split stream to a multiple of 256)
SHORT_SEQ_CELLS_START = 256
#: cells of the short lane at load, so at most 8 short slots: with a bigger ``max_batch_size`` the
#: other chats run in the long lane (the memory at load stays that of the former default)
SHORT_LANE_CELLS_AT_LOAD = 2048
#: most cells a short-lane slot grows to: llama-server's slice with ``-np 8 -c 8192``. Past it a chat
#: goes to the long lane; 8 x 1024 cells of the packaged model are ~187 MB of KV
SHORT_SEQ_CELLS_MAX = 1024
#: answer tokens a request is sized for when it picks the short lane (the answer may run longer:
#: the chat then moves to the long lane), so a 600-token chat asking the default 512 tokens stays
#: in the fast lane
ANSWER_RESERVE = 256
#: a request that fits a short slot still goes to the long lane when a free long slot holds this
#: many more of its prompt's tokens in cache than any short slot (reading them again costs more)
REUSE_PREFERENCE = 256
#: unified pools grow in steps of this many cells (at least doubling)
UNIFIED_STEP = 1024
#: a lane made on demand is freed after this many seconds without a chat. Measured on the packaged
#: model (bench/bench_kv_lane_free.py, 2 threads): making a unified context again costs 0.05 / 0.09 /
#: 0.16 s at 2048 / 4096 / 8192 cells, and freeing gives its whole KV back (RSS 447.5 -> 267.6 MB
#: at 8192 cells; after a 5,561-token chat 429 -> 279 MB). The real cost is the cached prompt it
#: held: that chat's next turn took 0.59 s with the lane kept and 25.8 s after the free (read again;
#: minutes on a 1.7B model, whose 8192 cells are ~1.6 GB). Ten minutes keeps an agent's turns and a
#: user's pauses cached and still gives the memory back when the long chat is over (Ollama frees a
#: whole model after 5 idle minutes)
IDLE_FREE_S = 600.0


def available_ram() -> int | None:
    """Free RAM from the hardware profile (hub/hardware.py: psutil, else /proc/meminfo); None
    where it cannot tell (growth is then not checked)."""
    from ...hub.hardware import ram_profile

    return ram_profile().get("available_bytes") or None


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(eq=False)
class Slot:
    seq: int
    lane: KvLane
    cached: list[int] = field(default_factory=list)  # tokens whose KV is in memory
    req: GenRequest | None = None
    stream: TokenStream | None = None
    chain: Any = None
    pending: list[int] = field(default_factory=list)  # prompt tokens still to evaluate
    seated: int = 0  # prompt tokens queued when the request was seated (or re-seated)
    last: int | None = None  # sampled, not yet decoded
    last_used: float = 0.0

    @property
    def n_held(self) -> int:
        return len(self.cached) + len(self.pending) + (self.last is not None)

    @property
    def held(self) -> list[int]:
        """Every token of the running request: evaluated, to evaluate, sampled not yet decoded."""
        return self.cached + self.pending + ([self.last] if self.last is not None else [])


#: ``make_context(cells, unified, n_seq)``: a new llama.cpp context on the loaded model
ContextFactory = Callable[[int, bool, int], Any]


class KvLane:
    """One llama.cpp context and its slots; ``ctx`` is None until the lane is first needed."""

    def __init__(
        self,
        name: str,
        *,
        unified: bool,
        n_seq: int,
        cells: int,
        max_cells: int,
        make_context: ContextFactory,
        free_context: Callable[[Any], None],
        kv_cell_bytes: int,
        n_batch: int,
    ) -> None:
        self.ll = native.lib()
        self.name, self.unified, self.n_seq = name, unified, n_seq
        self.max_cells = max(cells, max_cells)
        self._make, self._free = make_context, free_context
        self.kv_cell_bytes = kv_cell_bytes
        self.batch_capacity = n_batch
        self.ctx: Any = None
        self.mem: Any = None
        self.n_cells = self.n_batch = 0
        self.grown = 0
        #: made on demand (cells=0 at load): freed again when idle (``free_if_idle``)
        self.on_demand = not cells
        self.last_used = 0.0  # monotonic time a chat last ran here
        self.freed = 0
        #: the lane a chat moves to when it outgrows its slot here (auto: short -> long)
        self.overflow: KvLane | None = None
        self.slots = [Slot(seq=i, lane=self) for i in range(n_seq)]
        if cells:
            self._set(self._make(cells, unified, n_seq), cells)

    # -- sizes ----------------------------------------------------------------------------------
    @property
    def seq_cells(self) -> int:
        """Cells one sequence may fill now (a unified pool: all of them, shared)."""
        return self.n_cells if self.unified else self.n_cells // self.n_seq

    @property
    def max_seq_cells(self) -> int:
        return self.max_cells if self.unified else self.max_cells // self.n_seq

    @property
    def can_grow(self) -> bool:
        return self.n_cells < self.max_cells

    def active(self) -> list[Slot]:
        return [s for s in self.slots if s.req is not None]

    def need(self, req: GenRequest, context_length: int) -> int:
        """Cells one of this lane's sequences needs for ``req`` (a lane with an overflow sizes the
        answer at ``ANSWER_RESERVE``: a longer one moves on)."""
        answer = min(req.max_new_tokens, ANSWER_RESERVE) if self.overflow else req.max_new_tokens
        return min(context_length, len(req.prompt_ids) + answer)

    def _target(self, need: int) -> int:
        if self.unified:
            return min(self.max_cells, max(2 * self.n_cells, -(-need // UNIFIED_STEP) * UNIFIED_STEP))
        per = max(2 * self.seq_cells, SHORT_SEQ_CELLS_START)
        while per < need:
            per *= 2
        return min(self.max_cells, per * self.n_seq)

    # -- (re)building ---------------------------------------------------------------------------
    def room_for(self, need: int) -> str | None:
        """Make a sequence of ``need`` cells fit (growing the lane); a reason when it cannot."""
        if need > self.max_seq_cells:
            return f"the {self.name} KV lane holds at most {self.max_seq_cells} tokens a chat"
        if self.ctx is not None and need <= self.seq_cells:
            return None
        return self.grow(need)

    def grow(self, need: int) -> str | None:
        """Rebuild bigger (at least doubling); running chats are read again into the new context.

        Each running slot's tokens (its sampled, not yet decoded one included) go back in front
        of its pending ones, so the next steps recompute its KV and sampling goes on where it
        was. Idle slots' cached prefixes are lost. Growth that does not fit in free RAM, or that
        llama.cpp cannot allocate, keeps the old context and returns the reason.
        """
        keep = {s.seq: s.held for s in self.active()}
        old = self.ctx
        problem = self.rebuild(self._target(need))
        if self.ctx is not old:  # a new context (even the old size after a failed grow): re-read
            for slot in self.slots:
                if slot.seq in keep:
                    slot.pending, slot.last = keep[slot.seq], None
                    slot.seated = len(slot.pending)
        return problem

    def rebuild(self, cells: int) -> str | None:
        """A new context of ``cells`` (every slot's KV is gone); a reason when it cannot be made."""
        extra = (cells - self.n_cells) * self.kv_cell_bytes
        available = available_ram()
        if extra and available is not None and extra > available // 2:
            return (
                f"growing the {self.name} KV lane to {cells} cells needs {extra / 2**20:.0f} MiB more "
                f"than the {self.n_cells} cells it has, and only {available / 2**20:.0f} MiB of RAM is free"
            )
        old_cells = self.n_cells
        self.close()
        try:
            ctx = self._make(cells, self.unified, self.n_seq)
        except Exception as exc:
            if old_cells:
                self._set(self._make(old_cells, self.unified, self.n_seq), old_cells)  # back to what worked
            return f"the {self.name} KV lane could not grow to {cells} cells: {exc}"
        log.info("KV lane %s grown from %d to %d cells", self.name, old_cells, cells)
        self._set(ctx, cells)
        self.grown += 1
        return None

    def _set(self, ctx: Any, cells: int) -> None:
        self.ctx, self.n_cells = ctx, cells
        self.last_used = time.monotonic()
        # llama.cpp clamps a context's batch to its cells (a bigger batch aborts the process)
        self.n_batch = min(self.batch_capacity, cells)
        self.mem = self.ll.llama_get_memory(ctx)
        for slot in self.slots:
            slot.cached = []

    def forget(self, slot: Slot) -> None:
        if self.mem is not None:
            self.ll.llama_memory_seq_rm(self.mem, slot.seq, -1, -1)
        slot.cached = []

    def seat(self, slot: Slot, tokens: list[int]) -> int:
        """Keep the slot's KV of the longest prefix it shares with ``tokens`` (>= 1 token left to
        evaluate), queue the rest; returns the tokens kept."""
        keep = min(common_prefix(slot.cached, tokens), len(tokens) - 1)
        if not self.ll.llama_memory_seq_rm(self.mem, slot.seq, keep, -1):
            self.forget(slot)
            keep = 0
        slot.cached = slot.cached[:keep]
        slot.pending = tokens[keep:]
        slot.seated = len(slot.pending)
        return keep

    def free_if_idle(self, now: float, idle_s: float) -> bool:
        """Free an on-demand lane no chat has used for ``idle_s`` (its memory goes back)."""
        if not self.on_demand or self.ctx is None or self.active() or now - self.last_used < idle_s:
            # (a chat seated but not yet stepped counts as active: it holds a request)
            return False
        log.info("KV lane %s freed (%d cells, idle %.0f s)", self.name, self.n_cells, now - self.last_used)
        self.close()
        for slot in self.slots:
            slot.cached = []
        self.freed += 1
        return True

    def has_free(self) -> bool:
        return self.ctx is None or any(s.req is None for s in self.slots)

    def best_free(self, tokens: list[int]) -> tuple[Slot | None, int]:
        """The free slot sharing the longest prefix with ``tokens`` (least recently used on ties)."""
        free = [s for s in self.slots if s.req is None] if self.ctx is not None else []
        if not free:
            return None, -1
        slot = max(free, key=lambda s: (common_prefix(s.cached, tokens), -s.last_used))
        return slot, common_prefix(slot.cached, tokens)

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unified": self.unified,
            "seqs": self.n_seq,
            "cells": self.n_cells,
            "cells_per_seq": self.seq_cells,
            "max_cells": self.max_cells,
            "active": len(self.active()),
            "grown": self.grown,
            "freed": self.freed,
        }

    def close(self) -> None:
        if self.ctx is not None:
            self._free(self.ctx)
        self.ctx = self.mem = None
        self.n_cells = self.n_batch = 0


def build_lanes(
    layout: str,
    *,
    n_slots: int,
    context_length: int,
    start_cells: int,
    make_context: ContextFactory,
    free_context: Callable[[Any], None],
    kv_cell_bytes: int,
    n_batch: int,
) -> list[KvLane]:
    """The lanes of ``layout`` (Settings.kv_layout), in the order a request tries them.

    ``start_cells``: the unified pool's cells at load ("unified"); ``context_length``: what one
    chat may use (a "split" slot's slice, or the model's context).
    """
    common = {"make_context": make_context, "free_context": free_context, "kv_cell_bytes": kv_cell_bytes,
              "n_batch": n_batch}  # fmt: skip
    if layout == "unified":
        return [
            KvLane(
                "unified", unified=True, n_seq=n_slots, cells=start_cells, max_cells=context_length, **common
            )
        ]
    if layout == "split":
        cells = context_length * n_slots
        return [KvLane("split", unified=False, n_seq=n_slots, cells=cells, max_cells=cells, **common)]
    short_max = min(SHORT_SEQ_CELLS_MAX, context_length)
    start = min(SHORT_SEQ_CELLS_START, short_max)
    n_short = max(1, min(n_slots, SHORT_LANE_CELLS_AT_LOAD // SHORT_SEQ_CELLS_START))
    short = KvLane(
        "short", unified=False, n_seq=n_short, cells=start * n_short, max_cells=short_max * n_short, **common
    )
    if context_length <= short_max and n_short == n_slots:
        return [short]
    long = KvLane("long", unified=True, n_seq=n_slots, cells=0, max_cells=context_length, **common)
    short.overflow = long
    return [short, long]
