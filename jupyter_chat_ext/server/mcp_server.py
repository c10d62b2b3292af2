"""Our chat history and RAG collections served as an MCP server at ``/chat-ext/mcp``.

Imports the SDK at module level: the handler imports this module on a worker thread (seconds).

Other agents (Claude Desktop, another Jupyter extension, a notebook with the ``mcp`` SDK) can
search what is stored here: ``search_history``, ``get_session``, ``search_collection`` and
``list_collections``, all read-only. The protocol is the official SDK's: its low-level ``Server``
answers the JSON-RPC and its ``StreamableHTTPSessionManager`` (stateless, JSON responses) speaks
streamable HTTP; ``asgi_bridge.py`` hands it each tornado request, after Jupyter's auth and
authorizer have passed it (``handlers_tools.McpHandler``). Why not the SDK's own uvicorn app:
Jupyter already owns the port, the token and the authorizer, and a stateless manager keeps no
session state between requests that a second server process would need.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from jupyter_chat_ext.errors import ChatExtError, InvalidInput, Unavailable
from jupyter_chat_ext.tools.limits import argument_errors

from .base import dumps

if TYPE_CHECKING:
    from jupyter_chat_ext.core import Core

    from .app import ChatExtApp

log = logging.getLogger(__name__)

_STR = {"type": "string", "minLength": 1, "maxLength": 10_000}


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


#: name -> (description, input schema)
TOOLS: dict[str, tuple[str, dict[str, Any]]] = {
    "search_history": (
        "Full-text search over every stored chat message of this Jupyter server; returns the matching "
        "messages (session id, message id, role, snippet, time), best first.",
        _obj(
            {"query": _STR, "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
            ["query"],
        ),
    ),
    "get_session": (
        "One chat session (title, model, times) and its messages, oldest first; 'before' (a message "
        "id) pages back through long sessions.",
        _obj(
            {
                "session_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                "before": {"type": "integer", "minimum": 1},
            },
            ["session_id"],
        ),
    ),
    "search_collection": (
        "Search a RAG collection (documents indexed from files under the Jupyter root): passages with "
        "their source file, location and score.",
        _obj(
            {
                "collection": {"type": "string", "minLength": 1, "maxLength": 200},
                "query": _STR,
                "k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                "mode": {"type": "string", "enum": ["hybrid", "vector", "text"], "default": "hybrid"},
            },
            ["collection", "query"],
        ),
    ),
    "list_collections": (
        "The RAG collections of this server: name, documents, chunks, embedding model.",
        _obj({}, []),
    ),
}


class StoreTools:
    """The four tools over the app's core; every core call runs on the app's worker threads."""

    def __init__(self, app: ChatExtApp) -> None:
        self.app = app

    async def call(self, name: str, args: dict[str, Any]) -> Any:
        core = await self.app.core()
        run = self.app.run_blocking
        if name == "search_history":
            return {
                "results": await run(
                    lambda: core.chat.search_messages(args["query"], limit=args.get("limit", 20))
                )
            }
        if name == "get_session":
            return await run(lambda: self._session(core, args))
        rag = core.rag_service()  # 503 rag_unavailable, saying why
        if name == "list_collections":
            return {"collections": await run(rag.list_collections)}
        if name == "search_collection":
            k, mode = args.get("k", 5), args.get("mode", "hybrid")
            hits = await run(lambda: rag.search(args["collection"], args["query"], k=k, mode=mode))
            return {"results": hits}
        raise InvalidInput(f"unknown tool {name!r}")

    @staticmethod
    def _session(core: Core, args: dict[str, Any]) -> dict[str, Any]:
        session = core.chat.get_session(args["session_id"])
        rows = core.chat.list_messages(
            args["session_id"], before=args.get("before"), limit=args.get("limit", 100)
        )
        keep = ("id", "role", "content", "model", "status", "parent_id", "created_at")
        return {"session": session, "messages": [{k: row.get(k) for k in keep} for row in rows]}


def build_server(tools: StoreTools) -> Any:
    """The SDK's low-level Server with our four tools (the SDK validates the protocol, we the args)."""
    from jupyter_chat_ext import __version__

    listing = [
        types.Tool(
            name=name,
            description=description,
            input_schema=schema,
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
        )
        for name, (description, schema) in TOOLS.items()
    ]

    async def on_list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listing)

    async def on_call_tool(ctx: Any, params: Any) -> Any:
        def error(message: str) -> Any:
            return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)

        if params.name not in TOOLS:
            return error(f"unknown tool {params.name!r}; tools: {', '.join(TOOLS)}")
        args = params.arguments or {}
        problems = argument_errors(TOOLS[params.name][1], args)
        if problems:
            return error("invalid arguments: " + "; ".join(problems))
        try:
            data = await tools.call(params.name, args)
        except ChatExtError as exc:  # not found, RAG unavailable...: the calling model reads why
            return error(f"{exc.code}: {exc.message}")
        text = dumps(data)
        return types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content=json.loads(text)
        )

    return Server(
        "jupyter-chat-ext",
        version=__version__,
        instructions="Read-only access to this Jupyter server's chat history and RAG collections.",
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


class McpEndpoint:
    """The SDK's session manager, run for the server's life by one task on the server's loop."""

    def __init__(self, app: ChatExtApp) -> None:
        # stateless + JSON: every POST is one JSON-RPC exchange, nothing to keep between requests
        self.manager = StreamableHTTPSessionManager(
            app=build_server(StoreTools(app)), json_response=True, stateless=True
        )
        self._task: asyncio.Task[None] | None = None
        self._started = asyncio.Event()
        self._stop = asyncio.Event()

    async def handle(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())
        await self._started.wait()
        if self._task.done():  # the manager could not start (logged): say so instead of hanging
            raise Unavailable("the MCP endpoint is not running")
        await self.manager.handle_request(scope, receive, send)

    async def _run(self) -> None:
        try:
            async with self.manager.run():  # the manager's task group: entered and left by this task
                self._started.set()
                await self._stop.wait()
        except Exception:
            log.exception("jupyter_chat_ext: the MCP endpoint stopped")
        finally:
            self._started.set()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except Exception:  # already logged; shutdown goes on
                pass
