"""A circuit breaker per remote endpoint: a dead endpoint answers 503 at once instead of hanging.

Closed: requests go through. After ``threshold`` consecutive failures (connect errors, timeouts,
5xx answers) it opens for ``cooldown`` seconds (doubling on each reopen, capped): every request is
refused at once. When the cooldown has passed one trial request goes through (half-open); its
success closes the breaker, its failure opens it again for longer.
"""

from __future__ import annotations

import threading
import time


class CircuitBreaker:
    def __init__(self, *, threshold: int = 2, cooldown_s: float = 5.0, max_cooldown_s: float = 60.0) -> None:
        self.threshold = threshold
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._lock = threading.Lock()
        self.failures = 0
        self.opened_until = 0.0
        self.cooldown_s = cooldown_s
        self._trial = False
        self.last_error: str | None = None

    @property
    def state(self) -> str:
        with self._lock:
            if self.failures < self.threshold:
                return "closed"
            return "open" if time.monotonic() < self.opened_until else "half-open"

    def retry_in(self) -> float:
        return max(0.0, self.opened_until - time.monotonic())

    def allow(self) -> bool:
        """May a request go out now? In half-open state only one trial request may."""
        with self._lock:
            if self.failures < self.threshold:
                return True
            if time.monotonic() < self.opened_until or self._trial:
                return False
            self._trial = True
            return True

    def success(self) -> None:
        with self._lock:
            self.failures, self._trial = 0, False
            self.cooldown_s = self.base_cooldown_s
            self.last_error = None

    def failure(self, error: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = error
            if self.failures >= self.threshold:
                if self._trial:  # the trial failed: wait longer before the next one
                    self.cooldown_s = min(self.max_cooldown_s, self.cooldown_s * 2)
                self.opened_until = time.monotonic() + self.cooldown_s
                self._trial = False
