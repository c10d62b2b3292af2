"""One writer per session: a turn, a regenerate, a continue, an edit or a delete holds its session.

Why refuse instead of queue: a second send while an answer streams is what the sidebar (like
ChatGPT's and Open WebUI's) never does - its send button is disabled until the stream ends - so a
second writer is a script, a second tab or a race, and queueing it would build its prompt from
history that the first turn is still writing (a regenerate that waited would then delete the
answer it just saw finish). So a request that finds its session held by a turn is refused at
once with 409 ``session_busy``, before it reads or writes anything; the client retries when the
stream ends (PostgreSQL's ``NOWAIT`` does the same for a row another transaction locks).

Short writes (an edit, a delete) hold the session only for their one store call; one that finds
another short write holding it waits for it (bounded, ``SHORT_WAIT_S``) rather than failing a
click that raced a click. A turn waits the same bounded time behind a short write.

The registry is per process; one process owns the DuckDB file (TOOLCHAIN: a second process
cannot open it), so a per-process lock is the whole story.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from ..errors import Conflict

#: how long a request waits for a *short* write on its session before it is refused
SHORT_WAIT_S = 5.0


@dataclass(frozen=True)
class Holder:
    what: str  # "a turn" | "an edit" ...: said in the refusal
    long: bool  # a streaming turn (refuse at once) or one store call (wait for it)


class SessionLocks:
    def __init__(self) -> None:
        self._held: dict[str, Holder] = {}
        self._mutex = threading.Lock()
        self._freed = threading.Condition(self._mutex)

    def holder(self, session_id: str) -> Holder | None:
        with self._mutex:
            return self._held.get(session_id)

    def _try(self, session_id: str, holder: Holder) -> Holder | None:
        """Claim the session (None) or return who holds it; the caller holds ``_mutex``."""
        current = self._held.get(session_id)
        if current is None:
            self._held[session_id] = holder
        return current

    def _release(self, session_id: str, holder: Holder) -> None:
        with self._freed:
            if self._held.get(session_id) is holder:
                del self._held[session_id]
            self._freed.notify_all()

    @staticmethod
    def _refuse(session_id: str, current: Holder) -> Conflict:
        return Conflict(
            f"session {session_id} is busy: {current.what} is writing it; "
            "wait for it to finish (or stop it) and try again",
            code="session_busy",
            details={"session_id": session_id, "busy_with": current.what},
        )

    @contextmanager
    def short(self, session_id: str, what: str) -> Iterator[None]:
        """Hold the session for one store call (sync, on a worker thread)."""
        holder = Holder(what, long=False)
        deadline = time.monotonic() + SHORT_WAIT_S
        with self._freed:
            while (current := self._try(session_id, holder)) is not None:
                left = deadline - time.monotonic()
                if current.long or left <= 0:
                    raise self._refuse(session_id, current)
                self._freed.wait(left)
        try:
            yield
        finally:
            self._release(session_id, holder)

    @asynccontextmanager
    async def turn(self, session_id: str, what: str = "a turn") -> AsyncIterator[None]:
        """Hold the session for a whole turn (on the event loop; never blocks it)."""
        holder = Holder(what, long=True)
        deadline = time.monotonic() + SHORT_WAIT_S
        while True:
            with self._mutex:  # held for a dict lookup only
                current = self._try(session_id, holder)
            if current is None:
                break
            if current.long or time.monotonic() >= deadline:
                raise self._refuse(session_id, current)
            await asyncio.sleep(0.01)  # a short write ends within one store call
        try:
            yield
        finally:
            self._release(session_id, holder)
