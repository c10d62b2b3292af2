"""The server's handle on the core: built once, lazily, off the event loop, closed at shutdown.

``build_core`` (``jupyter_chat_ext/core.py``, the one composition root) imports the engine, the
store and the RAG service (torch, transformers, duckdb, lancedb come with them), so it runs on a
worker thread the first time a handler needs the core, or right after the server starts. A failed
build is reported (health, every route: 503) and tried again by the next request, e.g. once another
process released the DuckDB file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from jupyter_chat_ext.errors import Unavailable

if TYPE_CHECKING:
    from jupyter_chat_ext.core import Core

    from .pools import Pools

log = logging.getLogger(__name__)


class LazyCore:
    """Builds the core on first use in a worker thread; every waiter shares that one build."""

    def __init__(self, build: Callable[[], Core], pools: Pools) -> None:
        self._build = build
        self._pools = pools
        self.current: Core | None = None
        self._future: asyncio.Future[Core] | None = None
        self._error: BaseException | None = None
        self._closing = False

    @property
    def state(self) -> str:
        """One of: idle (not asked for yet), starting, ready, error."""
        if self.current is not None:
            return "ready"
        if self._future is not None:
            return "starting"
        return "error" if self._error is not None else "idle"

    @property
    def error(self) -> str | None:
        return None if self._error is None else str(self._error)

    async def get(self) -> Core:
        """The core; Unavailable (503) when it is shutting down or cannot start."""
        if self.current is not None:
            return self.current
        if self._closing:
            raise Unavailable("the chat extension is shutting down")
        if self._future is None:
            self._error = None
            self._future = asyncio.get_running_loop().run_in_executor(self._pools.quick, self._build)
        future = self._future
        try:
            core = await asyncio.shield(future)
        except Exception as exc:
            if self._future is future:  # let a later request try again (e.g. a lock released)
                self._future = None
                self._error = exc
            log.error("jupyter_chat_ext: the chat core did not start: %s", exc)
            raise Unavailable(f"the chat core did not start: {exc}") from None
        self.current = core
        return core

    async def close(self, timeout: float = 60.0) -> None:
        """Close the core (waiting for a build in progress), on a worker thread."""
        self._closing = True
        core = self.current
        if core is None and self._future is not None:
            try:
                core = await asyncio.wait_for(asyncio.shield(self._future), timeout=timeout)
            except Exception:
                core = None
        self.current = None
        self._future = None
        if core is not None:
            try:
                await self._pools.run(core.close)
            except Exception as exc:
                log.error("jupyter_chat_ext: closing the core failed: %s", exc)
