"""``GET tools`` (what an agent turn may call, and the MCP servers' state) and ``/mcp`` (our store
and RAG as an MCP server: ``mcp_server.py``), both behind Jupyter auth and the authorizer.
"""

from __future__ import annotations

import importlib

from jupyter_chat_ext.wire.ops import op
from jupyter_chat_ext.wire.tools import JsonRpcAnswer, ToolList

from .asgi_bridge import serve_asgi
from .base import READ, ChatExtHandler, requires


class ToolsHandler(ChatExtHandler):
    """``{"tools": [ToolSpec], "servers": [server status]}``; the first call starts the MCP servers."""

    @requires(READ)
    @op(
        "Every tool an agent turn may call (built-in, notebook tools the client runs, MCP servers'"
        " tools named <server>__<tool>) and the configured MCP servers' state. The first call starts"
        " the MCP servers; a server that fails is listed under servers with its error, never a 5xx",
        answer=ToolList,
        tag="tools",
        errors=(503,),
        operation_id="listTools",
    )
    async def get(self) -> None:
        core = await self.core()
        registry = core.tools
        tools = await registry.list() if registry is not None else []  # MCP work runs on its own loop
        self.send_json(
            {
                "tools": [spec.to_dict() for spec in tools],
                "servers": registry.status() if registry is not None else [],
            }
        )


class McpHandler(ChatExtHandler):
    """Streamable HTTP for MCP clients: Jupyter's auth and authorizer first, then the SDK answers.

    POST only: the server is stateless (no session to DELETE) and answers in JSON (no GET stream;
    tornado answers 405 for those). All four tools only read, so it needs the ``read`` action. The
    SDK answers protocol errors itself (JSON-RPC error bodies with their statuses: 400, 406...).
    """

    async def _serve(self) -> None:
        app = self.chat_app
        if app.mcp_endpoint is None:
            # importing the SDK's server side (starlette, pydantic models) takes seconds: not on the loop
            module = await self.blocking(importlib.import_module, "jupyter_chat_ext.server.mcp_server")
            if app.mcp_endpoint is None:  # another request may have made it meanwhile
                app.mcp_endpoint = module.McpEndpoint(app)
        await serve_asgi(self, app.mcp_endpoint.handle, self.body_bytes(), path="/mcp")

    def gone(self) -> bool:
        return self._gone or self._finished

    @requires(READ)
    @op(
        "One JSON-RPC message (wire.tools.JsonRpcMessage: a request or a notification) of the MCP"
        " protocol, this server's chat history and RAG collections as an MCP server (streamable HTTP,"
        " stateless, JSON answers; tools search_history, get_session, search_collection,"
        " list_collections, all read-only). Protocol errors are JSON-RPC error objects from the MCP"
        " SDK; 202 with no body for a notification",
        answer=JsonRpcAnswer,
        tag="tools",
        # the SDK's protocol errors are JSON-RPC bodies; 415 (not JSON) and auth are ours
        errors=(202, (400, JsonRpcAnswer), (406, JsonRpcAnswer), 415),
        operation_id="mcpPost",
    )
    async def post(self) -> None:
        # the SDK answers a missing/odd Content-Type with a plain-text 400: ours are JSON errors
        if self.request.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            self.send_error_json(
                415,
                "unsupported_media_type",
                "MCP requests are JSON-RPC: Content-Type must be application/json",
            )
            return
        await self._serve()
