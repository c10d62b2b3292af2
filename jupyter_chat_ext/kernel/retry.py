"""Retry a request the server refused because it was busy (429) or not ready (503).

A refusal carries ``Retry-After`` and wrote nothing (the server checks capacity before it stores
the turn), so sending the same request again never duplicates a turn. Without ``Retry-After`` a
503 means something a retry will not fix (a failed model load, a closed store): no retry then.
Each wait is announced ("busy, retrying in 2 s") so a cell never sits silent; a listener set with
``retry_notices`` receives the line instead of stderr (the ChatWidget shows it in its info line).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

RETRY_STATUSES = (429, 503)


@dataclass(frozen=True)
class RetryPolicy:
    #: tries in all, the first one included
    tries: int = 3
    #: a longer Retry-After is cut to this (a cell should not sleep for minutes)
    max_wait_s: float = 30.0
    #: the wait when Retry-After is not a number of seconds (an HTTP date, garbage)
    fallback_s: float = 1.0

    def delay(self, status: int, retry_after: str | None, attempt: int) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None to give up and raise."""
        if status not in RETRY_STATUSES or retry_after is None or attempt >= self.tries:
            return None
        try:
            seconds = float(retry_after)
        except ValueError:
            seconds = self.fallback_s * 2 ** (attempt - 1)  # backoff when the server gave no number
        return max(0.0, min(seconds, self.max_wait_s))


_local = threading.local()


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


@contextmanager
def retry_notices(listener: Callable[[str], None]) -> Iterator[None]:
    """Send this thread's retry announcements to ``listener`` while the block runs."""
    previous = getattr(_local, "listener", None)
    _local.listener = listener
    try:
        yield
    finally:
        _local.listener = previous


def announce(status: int, wait_s: float, attempt: int, tries: int, what: str) -> None:
    reason = "busy" if status == 429 else "not ready"
    line = f"chat: the server is {reason} ({status}), retrying {what} in {wait_s:g} s"
    line += f" (try {attempt + 1} of {tries})"
    (getattr(_local, "listener", None) or _to_stderr)(line)


def wait(seconds: float) -> None:
    """Sleep in short steps so Ctrl-C in a kernel lands promptly."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(left, 0.2))
