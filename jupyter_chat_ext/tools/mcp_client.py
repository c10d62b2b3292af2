"""One configured MCP server: started lazily, listed, called, restarted with backoff after a crash.

Everything here runs on the registry's loop thread (``loop_thread.py``). The official ``mcp`` SDK
does the protocol (``mcp.Client`` over ``stdio_client`` or ``streamable_http_client``); this class
only owns the session's life. The ``Client`` context is entered and left by one owner task
(anyio task groups must be left by the task that entered them); calls borrow the live session.

A server that cannot start, dies, or sends garbage is a *state* (``failed`` with the reason and
the tail of its stderr), never an exception that escapes the registry: the next use after the
backoff (1 s, doubling to 60 s) starts it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from .mcp_config import ServerConfig, describe_error

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0


class ServerDown(Exception):
    """The server is not running (and was not started now); the message says why and when again."""


class McpConnection:
    def __init__(
        self,
        name: str,
        config: ServerConfig | None,
        *,
        config_error: str | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.state = "failed" if config is None else "idle"  # idle | starting | running | failed
        self.error: str | None = config_error
        self.restarts = 0
        self.tools: list[Any] = []  # mcp Tool objects of the last listing
        self._failures = 0
        self._retry_at = 0.0
        self._starts = 0
        self._client: Any = None
        self._owner: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._log_path = (log_dir / f"{name}.stderr.log") if log_dir is not None else None

    # -- state ---------------------------------------------------------------------------------
    def may_start(self) -> bool:
        """Idle, or failed with its backoff over: a listing may start it (in the background)."""
        if self.config is None:
            return False
        return self.state == "idle" or (self.state == "failed" and time.monotonic() >= self._retry_at)

    def status(self) -> dict[str, Any]:
        retry_in = max(0.0, self._retry_at - time.monotonic()) if self.state == "failed" else 0.0
        return {
            "name": self.name,
            "transport": self.config.kind if self.config else None,
            "state": self.state,
            "error": self.error,
            "restarts": self.restarts,
            "tools": len(self.tools) if self.state == "running" else 0,
            "retry_in_s": round(retry_in, 1) if self.config is not None and self.state == "failed" else None,
        }

    def _fail(self, reason: str) -> None:
        self._failures += 1
        self._retry_at = time.monotonic() + min(MAX_BACKOFF_S, 2.0 ** (self._failures - 1))
        self.state, self.tools = "failed", []
        tail = self._stderr_tail()
        self.error = f"{reason}; stderr: {tail}" if tail else reason
        log.warning("jupyter_chat_ext: MCP server %r failed: %s", self.name, self.error)

    def _stderr_tail(self, lines: int = 5) -> str:
        if self._log_path is None:
            return ""
        try:
            with open(self._log_path, "rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(0, fh.tell() - 4096))
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])

    # -- life ----------------------------------------------------------------------------------
    async def ensure(self) -> Any:
        """The live client session, starting the server when it is idle or its backoff is over."""
        if self.config is None:
            raise ServerDown(self.error or "not configured")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.state == "running" and self._client is not None:
                return self._client
            wait = self._retry_at - time.monotonic()
            if self.state == "failed" and wait > 0:
                raise ServerDown(f"{self.error} (next start in {wait:.0f} s)")
            await self._start()
            return self._client

    async def _start(self) -> None:
        config = self.config
        assert config is not None
        if self._starts:
            self.restarts += 1
        self._starts += 1
        self.state, self.error = "starting", None
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._owner = asyncio.create_task(self._own(config, ready, self._stop), name=f"mcp:{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), config.start_timeout_s)
        except asyncio.TimeoutError:
            await self._end_owner()
            self._fail(f"no answer within {config.start_timeout_s:g} s of starting")
            raise ServerDown(self.error) from None
        except Exception as exc:
            await self._end_owner()
            self._fail(f"could not start: {describe_error(exc)}")
            raise ServerDown(self.error) from None
        self._failures = 0

    async def _own(self, config: ServerConfig, ready: asyncio.Future[None], stop: asyncio.Event) -> None:
        """The owner task: open the session, list the tools, hold it open until told to stop."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                from mcp import Client

                transport = await self._transport(config, stack)
                client = await stack.enter_async_context(Client(transport, cache=None))
                self.tools = await list_all_tools(client)
                self._client, self.state = client, "running"
                ready.set_result(None)
                await stop.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif not stop.is_set():  # the session broke under us while running
                self._fail(f"connection lost: {describe_error(exc)}")
        finally:
            self._client = None

    async def _transport(self, config: ServerConfig, stack: contextlib.AsyncExitStack) -> Any:
        if config.kind == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            errlog = self._open_errlog(stack)
            params = StdioServerParameters(
                command=config.command or "", args=config.args, env=config.env or None, cwd=config.cwd
            )
            return stdio_client(params, errlog=errlog)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        http = await stack.enter_async_context(
            httpx2.AsyncClient(headers=config.headers, timeout=httpx2.Timeout(30.0, read=300.0))
        )
        return streamable_http_client(config.url or "", http_client=http)

    def _open_errlog(self, stack: contextlib.ExitStack | contextlib.AsyncExitStack) -> Any:
        """The server's stderr goes to a log file of its own (its tail explains a failure)."""
        import os
        import sys

        if self._log_path is None:
            return stack.enter_context(open(os.devnull, "w")) if sys.stderr is None else sys.stderr
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        return stack.enter_context(open(self._log_path, "w", encoding="utf-8", errors="replace"))

    async def _end_owner(self, timeout: float = 10.0) -> None:
        owner, stop = self._owner, self._stop
        self._owner = None
        if stop is not None:
            stop.set()
        if owner is None:
            return
        try:
            await asyncio.wait_for(owner, timeout)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            owner.cancel()
        except Exception:  # already recorded by the owner
            pass

    async def lost(self, exc: BaseException) -> None:
        """A call found the connection gone: record it and release what is left of the session."""
        if self.state != "running":
            return
        self._client = None
        self._fail(f"connection lost: {describe_error(exc)}")
        await self._end_owner()

    async def stop(self) -> None:
        await self._end_owner()
        if self.state in ("running", "starting"):
            self.state = "idle"
        self._client = None

    async def relist(self) -> list[Any]:
        """A fresh listing from a running server (tools may change while it runs)."""
        client = await self.ensure()
        try:
            self.tools = await list_all_tools(client)
        except Exception as exc:
            if is_connection_error(exc):
                await self.lost(exc)
            raise
        return self.tools

    async def call(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> tuple[str, bool]:
        """(text, is_error) of one call; ServerDown when the server is not running."""
        from .mcp_config import result_text

        client = await self.ensure()
        try:
            result = await asyncio.wait_for(client.call_tool(tool, arguments), timeout_s)
        except asyncio.TimeoutError:
            return f"the tool {tool!r} of MCP server {self.name!r} timed out after {timeout_s:g} s", True
        except Exception as exc:
            if is_connection_error(exc):
                await self.lost(exc)
                return (
                    f"MCP server {self.name!r} closed the connection during the call "
                    f"({describe_error(exc)}); it is started again on a later call"
                ), True
            return f"MCP server {self.name!r} refused the call: {describe_error(exc)}", True
        return result_text(result), bool(result.is_error)


async def list_all_tools(client: Any, max_pages: int = 50) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    for _ in range(max_pages):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def is_connection_error(exc: BaseException) -> bool:
    """True when the session itself is broken (process exited, stream closed), not one request."""
    import anyio
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED

    if isinstance(exc, MCPError):
        return exc.code == CONNECTION_CLOSED
    return isinstance(
        exc,
        (
            anyio.ClosedResourceError,
            anyio.BrokenResourceError,
            anyio.EndOfStream,
            BrokenPipeError,
            ConnectionError,
        ),
    )
