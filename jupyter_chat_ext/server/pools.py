"""Worker threads for the blocking core calls of the handlers, sized so that no call waits on another.

Every store read/write, tokenizer count, model-registry call and file write a handler makes runs
here, never on the event loop Jupyter shares with every notebook. Two pools:

- ``quick``: short calls (a session, a page of messages, a cache value, model info). Sized
  ``max(8, 2 x cores)``: a measured run of 50 concurrent chats had the old 4 workers all busy with
  store calls while ``/api/status`` waited behind them.
- ``slow``: reads and writes that may take seconds or minutes (SQL with its 30 s timeout, export,
  import, reindex, big embedding batches). A small pool of their own, so a slow query can never take
  the threads a chat needs; a burst of them queues here instead.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def quick_workers(configured: int = 0) -> int:
    """Workers of the quick pool: the configured count, else max(8, 2 x cores)."""
    return configured if configured > 0 else max(8, 2 * (os.cpu_count() or 1))


class Pools:
    """The extension's two thread pools (never Jupyter's default executor)."""

    def __init__(self, quick: int = 0, slow: int = 2) -> None:
        self.quick = ThreadPoolExecutor(max_workers=quick_workers(quick), thread_name_prefix="chat-ext")
        self.slow = ThreadPoolExecutor(max_workers=max(1, slow), thread_name_prefix="chat-ext-slow")

    async def run(self, fn: Callable[..., T], *args: Any, slow: bool = False, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a worker thread and wait for it without blocking the loop."""
        pool = self.slow if slow else self.quick
        call = functools.partial(fn, *args, **kwargs) if args or kwargs else fn
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    def shutdown(self) -> None:
        """Stop taking work; queued calls are cancelled, running ones finish on their own."""
        for pool in (self.quick, self.slow):
            pool.shutdown(wait=False, cancel_futures=True)
