"""ToolRegistry: every tool the agent can offer a model, one place to list, check and call them.

Three kinds (``ToolSpec.source``): built-in tools run here on a worker thread (``builtin.py``);
notebook tools are declarations the client executes (``notebook.py``); MCP tools come from the
configured servers (``mcp_client.py``), whose sessions live on the registry's own loop thread
(``loop_thread.py`` says why). Every call passes the same limits (``limits.py``): arguments
validated against the schema, a timeout, the result cut to ``max_tool_result_chars``. A tool that
fails, times out or gets bad arguments gives an *error result* the model can read; only asking
for a tool that does not exist (404) or one that runs in the client (400) raises.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_chat_ext.errors import InvalidInput, NotFound

from .builtin import BUILTIN_TOOLS, BuiltinContext
from .limits import argument_errors, limited, schema_problem
from .loop_thread import LoopThread
from .mcp_client import McpConnection, ServerDown
from .mcp_config import ServerConfig, describe_error, exposed_name
from .notebook import NOTEBOOK_TOOLS
from .spec import ToolResult, ToolSpec

if TYPE_CHECKING:
    from jupyter_chat_ext.settings import Settings

log = logging.getLogger(__name__)

MAX_DESCRIPTION_CHARS = 1024
#: a running server's listing may take this long before its last listing is used instead
LIST_WAIT_S = 5.0


class ToolRegistry:
    def __init__(
        self,
        *,
        root: str | Path | None = None,
        mcp_servers: dict[str, Any] | None = None,
        timeout_s: float = 60.0,
        max_result_chars: int = 20_000,
        log_dir: str | Path | None = None,
    ) -> None:
        self.root = Path(root or Path.cwd()).resolve()
        self.timeout_s = float(timeout_s)
        self.max_result_chars = int(max_result_chars)
        self._local: dict[str, ToolSpec] = {spec.name: spec for spec, _ in BUILTIN_TOOLS.values()}
        self._local.update({spec.name: spec for spec in NOTEBOOK_TOOLS})
        self._servers: dict[str, McpConnection] = {}
        logs = Path(log_dir) if log_dir is not None else None
        for name, raw in (mcp_servers or {}).items():
            try:
                config: ServerConfig | None = ServerConfig.parse(name, raw)
                error = None
            except ValueError as exc:  # reported in status(), the other servers still work
                config, error = None, str(exc)
            self._servers[str(name)] = McpConnection(str(name), config, config_error=error, log_dir=logs)
        #: exposed MCP tool name -> (server, the tool's own name, spec), from the last listing
        self._mcp: dict[str, tuple[str, str, ToolSpec]] = {}
        #: servers being started in the background by a listing (lives on the MCP loop)
        self._starting: dict[str, asyncio.Task[None]] = {}
        self._loop = LoopThread("chat-ext-mcp")
        import jsonschema  # noqa: F401  (here, off the event loop: build_core runs on a worker thread)

    @classmethod
    def from_settings(cls, settings: Settings) -> ToolRegistry:
        return cls(
            root=getattr(settings, "root_dir", None),
            mcp_servers=settings.mcp_servers,
            timeout_s=settings.tool_timeout_s,
            max_result_chars=settings.max_tool_result_chars,
            log_dir=Path(settings.data_dir) / "mcp-logs",
        )

    # -- listing ---------------------------------------------------------------------------------
    async def list(self, *, wait_s: float = 0.0) -> list[ToolSpec]:
        """The tools available now. It never waits for a server that is starting or broken: one
        that may start (idle, or its backoff is over) is started in the background and its tools
        join a later listing; ``status()`` says each server's state. (Before, a stdio server that
        printed non-JSON made every GET /tools take 17-18 s and an agent turn wait 46 s for its
        first byte, at every retry.) ``wait_s``: wait that long at most for the starts to end."""
        if self._servers:
            await self._loop.run(self._list_mcp(wait_s))
        return [*self._local.values(), *(spec for _, _, spec in self._mcp.values())]

    def unavailable(self) -> list[dict[str, Any]]:
        """The MCP servers whose tools are not offered now: ``{name, state, error}``."""
        return [
            {"name": s["name"], "state": s["state"], "error": s["error"]}
            for s in self.status()
            if s["state"] != "running"
        ]

    async def _list_mcp(self, wait_s: float = 0.0) -> None:
        for conn in self._servers.values():
            if conn.may_start() and conn.name not in self._starting:
                self._starting[conn.name] = asyncio.create_task(self._start_in_background(conn))
        if wait_s > 0 and self._starting:
            await asyncio.wait(list(self._starting.values()), timeout=wait_s)
        running = [c for c in self._servers.values() if c.state == "running" and c.name not in self._starting]
        fresh = await asyncio.gather(*(self._list_running(c) for c in running))
        # the tools of a start that finished meanwhile (its task put them in _mcp) stay
        listed = {c.name for c in running}
        kept = [
            (k, v)
            for k, v in self._mcp.items()
            if v[0] not in listed and self._servers[v[0]].state == "running"
        ]
        self._collect([*fresh, kept])

    async def _start_in_background(self, conn: McpConnection) -> None:
        try:
            entries = await self._list_one(conn)
            self._mcp = {**self._mcp, **dict(entries)}
        finally:
            self._starting.pop(conn.name, None)

    async def _list_running(self, conn: McpConnection) -> list[tuple[str, tuple[str, str, ToolSpec]]]:
        """A running server's fresh listing, within LIST_WAIT_S (else its last one)."""
        try:
            return await asyncio.wait_for(self._list_one(conn), LIST_WAIT_S)
        except asyncio.TimeoutError:
            log.warning(
                "jupyter_chat_ext: MCP server %r did not list its tools in %g s", conn.name, LIST_WAIT_S
            )
            return [(exposed, entry) for exposed, entry in self._mcp.items() if entry[0] == conn.name]

    def _collect(self, results: list[list[tuple[str, tuple[str, str, ToolSpec]]]]) -> None:
        found: dict[str, tuple[str, str, ToolSpec]] = {}
        for entries in results:
            for exposed, entry in entries:
                if exposed in found or exposed in self._local:
                    log.warning(
                        "jupyter_chat_ext: MCP tool name %r is taken; the later one is left out", exposed
                    )
                    continue
                found[exposed] = entry
        self._mcp = found

    async def prepare(self, names: Any) -> None:
        """Start the servers of MCP tools named explicitly and not listed yet (each bounded by its
        ``start_timeout_s``; a server in backoff answers at once): asked for by name, they are
        worth the wait that a plain listing never makes."""
        for name in names:
            if isinstance(name, str) and name not in self._local and name not in self._mcp:
                await self._list_server_of(name)

    async def settle(self, timeout_s: float = 60.0) -> None:
        """Wait (at most ``timeout_s``) for the servers starting now (tests, ``%chat tools``)."""
        if self._servers:
            await self.list(wait_s=timeout_s)

    async def _list_one(self, conn: McpConnection) -> list[tuple[str, tuple[str, str, ToolSpec]]]:
        try:
            tools = await conn.relist()
        except ServerDown:
            return []
        except Exception as exc:  # a listing that failed without breaking the session
            log.warning("jupyter_chat_ext: listing MCP server %r failed: %s", conn.name, describe_error(exc))
            return []
        out = []
        for tool in tools:
            exposed = exposed_name(conn.name, tool.name)
            out.append((exposed, (conn.name, tool.name, mcp_spec(conn.name, exposed, tool))))
        return out

    def get(self, name: str) -> ToolSpec:
        """The spec of a tool (MCP tools once listed); NotFound 404 ``unknown_tool`` otherwise."""
        spec = self._local.get(name)
        if spec is None and name in self._mcp:
            spec = self._mcp[name][2]
        if spec is None:
            raise NotFound(f"no tool named {name!r}", code="unknown_tool")
        return spec

    def status(self) -> list[dict[str, Any]]:
        """The MCP servers: ``{name, transport, state, error, restarts, tools, retry_in_s}``; a
        server a listing is starting in the background says ``starting`` from the first moment."""
        out = []
        for conn in self._servers.values():
            status = conn.status()
            if conn.name in self._starting and status["state"] in ("idle", "failed"):
                status.update(state="starting", retry_in_s=None)
            out.append(status)
        return out

    # -- calling ---------------------------------------------------------------------------------
    async def call(self, name: str, arguments: Any, *, timeout_s: float | None = None) -> ToolResult:
        """Run a tool. ``arguments``: an object, or the JSON text of one (what a model writes)."""
        if name not in self._local and name not in self._mcp:
            await self._list_server_of(name)  # a server not started yet: a listing names its tools
        spec = self.get(name)
        if spec.source == "notebook":
            raise InvalidInput(f"{name!r} runs in the notebook client, not in the server", code="unsupported")
        if not spec.enabled:
            return ToolResult.error(f"the tool {name!r} is disabled")
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError as exc:
                return ToolResult.error(f"invalid arguments: not JSON ({exc})")
        problems = argument_errors(spec.parameters, arguments)
        if problems:
            return ToolResult.error("invalid arguments: " + "; ".join(problems))
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        try:
            if spec.source == "builtin":
                result = await self._call_builtin(name, arguments, timeout)
            else:
                server, tool, _ = self._mcp[name]
                text, is_error = await self._loop.run(self._servers[server].call(tool, arguments, timeout))
                result = ToolResult(text, is_error=is_error)
        except ServerDown as exc:
            result = ToolResult.error(f"MCP server for {name!r} is not running: {exc}")
        except Exception as exc:  # a tool's own failure is the model's business, not a 500
            log.warning("jupyter_chat_ext: tool %r failed", name, exc_info=True)
            result = ToolResult.error(f"the tool {name!r} failed: {describe_error(exc)}")
        return limited(result, self.max_result_chars)

    async def _call_builtin(self, name: str, arguments: dict[str, Any], timeout: float) -> ToolResult:
        _, runner = BUILTIN_TOOLS[name]
        ctx = BuiltinContext(root=self.root, max_chars=self.max_result_chars)
        try:
            # a thread cannot be stopped: past the timeout its answer is dropped
            return await asyncio.wait_for(asyncio.to_thread(runner, arguments, ctx), timeout)
        except asyncio.TimeoutError:
            return ToolResult.error(f"the tool {name!r} timed out after {timeout:g} s")

    async def _list_server_of(self, name: str) -> None:
        """List (starting it) the one server whose prefix ``name`` carries, if it is not running."""
        for conn in self._servers.values():
            if name.startswith(exposed_name(conn.name, "")) and conn.state != "running":
                entries = await self._loop.run(self._list_one(conn))
                self._mcp = {**self._mcp, **dict(entries)}

    # -- shutdown --------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every MCP server and the loop thread (blocking, bounded; safe to call twice)."""
        conns = list(self._servers.values())

        async def stop_all() -> None:
            await asyncio.gather(*(c.stop() for c in conns), return_exceptions=True)

        self._loop.stop(stop_all() if self._loop.started else None)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)


def mcp_spec(server: str, exposed: str, tool: Any) -> ToolSpec:
    """An MCP tool as a ToolSpec: "execute" unless the server marks it read-only (readOnlyHint)."""
    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
    problem = schema_problem(schema)
    if problem:
        log.warning("jupyter_chat_ext: MCP tool %s/%s disabled: %s", server, tool.name, problem)
    annotations = getattr(tool, "annotations", None)
    read_only = bool(annotations is not None and getattr(annotations, "read_only_hint", None))
    # every description goes into every prompt that offers the tool: a server's essay is cut
    description = (tool.description or getattr(tool, "title", None) or tool.name)[:MAX_DESCRIPTION_CHARS]
    if problem:
        description = f"{description} (disabled: {problem})"
    return ToolSpec(
        name=exposed,
        description=description,
        parameters=schema if not problem else {"type": "object"},
        source=f"mcp:{server}",
        effect="read" if read_only else "execute",
        enabled=problem is None,
    )
