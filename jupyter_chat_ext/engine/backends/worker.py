"""What every local backend's decode loop shares: a bounded FIFO of requests and one worker thread.

The transformers batcher and the llama.cpp loop differ in how they decode a batch, not in how
requests reach them: ``submit`` refuses with Busy (429) once ``max_queue`` requests wait and with
Unavailable (503) while the model is being unloaded, before the request holds anything; ``emit``
hands an event to the request's consumer and never lets a consumer that went away kill the worker.
A subclass sets up its own state, then calls ``start()``, and implements ``_run`` (the loop) and
``active_count``.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import Any

from ...errors import Busy, Unavailable
from .base import GenRequest

log = logging.getLogger(__name__)


class GenerationWorker:
    def __init__(self, *, model_id: str, max_queue: int, thread_name: str) -> None:
        self.model_id = model_id
        self.max_queue = max_queue
        self._pending: collections.deque[GenRequest] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        # counters (stats, tests, /metrics)
        self.steps = 0
        self.batch_size_sum = 0  # sequences per decode step, summed
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, req: GenRequest) -> GenRequest:
        with self._cond:
            if self._closed:
                raise Unavailable(f"model '{self.model_id}' is being unloaded")
            if len(self._pending) >= self.max_queue:
                raise Busy(
                    f"the generation queue of '{self.model_id}' is full "
                    f"({self.max_queue} waiting); retry shortly"
                )
            self._pending.append(req)
            self._cond.notify()
        return req

    @property
    def queue_depth(self) -> int:
        return len(self._pending)

    @property
    def active_count(self) -> int:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        return {
            "queue_depth": self.queue_depth,
            "active": self.active_count,
            "steps": self.steps,
            "mean_batch": (self.batch_size_sum / self.steps) if self.steps else 0.0,
        }

    def emit(self, req: GenRequest, event: dict[str, Any]) -> None:
        try:
            req.sink(event)
        except Exception:  # a consumer that went away must not kill the worker
            log.debug("dropping event for request %s", req.id, exc_info=True)

    def _run(self) -> None:
        raise NotImplementedError
