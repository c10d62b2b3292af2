"""One asyncio event loop on a daemon thread: the home of the registry's MCP client sessions.

Why a loop of our own rather than the caller's: the registry lives in the core, which both the
Jupyter server (tornado's loop) and the kernel's in-process service (its own private loop) use,
and an MCP session (anyio task groups inside the SDK) must be opened, used for its whole life and
closed on ONE loop by ONE owner task. A private loop gives every caller the same sessions from
any loop or thread, keeps a server that floods us with output off Jupyter's loop, and lets the
core close them from the worker thread that runs ``Core.close``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """Starts on first use; ``run`` awaits a coroutine on it from any other loop."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name}: the loop thread is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def main() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=main, name=self.name, daemon=True)
                self._thread.start()
                started.wait()
                self._loop = loop
            return self._loop

    @property
    def started(self) -> bool:
        return self._loop is not None

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the thread's loop; cancelling the caller cancels it there too."""
        return await asyncio.wrap_future(self.submit(coro))

    def stop(self, final: Coroutine[Any, Any, Any] | None = None, timeout: float = 15.0) -> None:
        """Run ``final`` (bounded by ``timeout``), then stop the loop and join its thread."""
        with self._lock:
            loop, thread, self._closed = self._loop, self._thread, True
            self._loop = self._thread = None
        if loop is None:
            if final is not None:
                final.close()
            return
        if final is not None:
            try:
                asyncio.run_coroutine_threadsafe(final, loop).result(timeout)
            except Exception:  # a server that will not stop must not hang the shutdown
                pass
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout)
        if not loop.is_running():
            loop.close()
