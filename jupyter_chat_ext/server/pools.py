"""Worker threads for the blocking core calls of the handlers, sized so that no call waits on another.

Every store read/write, tokenizer count, model-registry call and file write a handler makes runs
here, never on the event loop Jupyter shares with every notebook. Two pools:

- ``quick``: short calls (a session, a page of messages, a cache value, model info). Sized
  ``max(8, 2 x cores)``: a measured run of 50 concurrent chats had the old 4 workers all busy with
  store calls while ``/api/status`` waited behind them.
- ``slow``: reads and writes that may take seconds or minutes (export, import, reindex, uploads,
  big embedding batches). A small pool of their own, so they never take the threads a chat needs.
- ``sql``: the SQL door's queries (up to their 30 s timeout each), one at a time per server on a
  thread of their own: a second query while one runs is refused at once with 429 + Retry-After
  (the queue says "busy" before it does any work). Measured before: SQL shared the 2 ``slow``
  threads, so two slow queries made an export wait 29.5 s and a third query 62 s.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from jupyter_chat_ext.errors import Busy

T = TypeVar("T")


def quick_workers(configured: int = 0) -> int:
    """Workers of the quick pool: the configured count, else max(8, 2 x cores)."""
    return configured if configured > 0 else max(8, 2 * (os.cpu_count() or 1))


class Pools:
    """The extension's two thread pools (never Jupyter's default executor)."""

    def __init__(self, quick: int = 0, slow: int = 2) -> None:
        self.quick = ThreadPoolExecutor(max_workers=quick_workers(quick), thread_name_prefix="chat-ext")
        self.slow = ThreadPoolExecutor(max_workers=max(1, slow), thread_name_prefix="chat-ext-slow")
        self.sql = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-ext-sql")
        # held from submit until the query's thread is done (not until its request goes away: a
        # client that disconnects does not stop the query, so the next one is still refused)
        self._sql_gate = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any, slow: bool = False, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a worker thread and wait for it without blocking the loop."""
        pool = self.slow if slow else self.quick
        call = functools.partial(fn, *args, **kwargs) if args or kwargs else fn
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    async def run_sql(self, fn: Callable[[], T]) -> T:
        """Run one SQL query on the SQL thread; Busy (429, Retry-After) while another one runs."""
        if not self._sql_gate.acquire(blocking=False):
            raise Busy("a SQL query is running on this server; they run one at a time", retry_after=1.0)
        try:
            future = self.sql.submit(fn)
        except BaseException:
            self._sql_gate.release()
            raise
        future.add_done_callback(lambda _: self._sql_gate.release())
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        """Stop taking work; queued calls are cancelled, running ones finish on their own."""
        for pool in (self.quick, self.slow, self.sql):
            pool.shutdown(wait=False, cancel_futures=True)
