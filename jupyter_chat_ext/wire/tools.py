"""Tools an agent turn may call (``GET /tools``), and ``/mcp``: this server as an MCP server.

``/mcp`` speaks MCP's streamable HTTP (JSON-RPC 2.0, stateless, JSON answers, POST only); the MCP
SDK parses and answers each message itself, so its body is not a ``Body`` model validated at the
door: ``JsonRpcMessage`` and ``JsonRpcAnswer`` describe it for the document, nothing more.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Answer

__all__ = ["JsonRpcAnswer", "JsonRpcError", "JsonRpcMessage", "McpServerStatus", "ToolList", "ToolSpec"]


class ToolSpec(Answer):
    """One tool (``tools/spec.py``'s ``ToolSpec``)."""

    name: str = Field(description="unique; an MCP server's tools are <server>__<tool>")
    description: str
    parameters: dict[str, Any] = Field(description="the JSON schema of its arguments")
    source: str = Field(description="builtin | notebook | mcp:<server>")
    effect: Literal["read", "write", "execute"] = Field(
        description="write and execute tools ask for approval"
    )
    enabled: bool


class McpServerStatus(Answer):
    """A configured MCP server (``mcp_servers``): a failed one is listed with its error, never a 5xx."""

    name: str
    transport: Literal["stdio", "http"] | None = None
    state: Literal["idle", "starting", "running", "failed"]
    error: str | None
    restarts: int
    tools: int | None = Field(None, description="how many tools it offers while running")
    retry_in_s: float | None = Field(None, description="seconds until a failed server is tried again")


class ToolList(Answer):
    tools: list[ToolSpec] = Field(
        description="built-in tools, notebook tools (the client runs them) and the MCP servers' tools"
    )
    servers: list[McpServerStatus]


class JsonRpcMessage(Answer):
    """One JSON-RPC 2.0 message of the MCP protocol: a request (with ``id``) or a notification.

    Tools: search_history, get_session, search_collection, list_collections (all read-only).
    """

    jsonrpc: Literal["2.0"]
    method: str = Field(description="initialize, tools/list, tools/call, notifications/initialized ...")
    id: int | str | None = Field(None, description="absent for a notification")
    params: dict[str, Any] | None = None


class JsonRpcError(Answer):
    code: int
    message: str
    data: Any = None


class JsonRpcAnswer(Answer):
    """The JSON-RPC response to a request: ``result`` or ``error`` (protocol errors, from the SDK)."""

    jsonrpc: Literal["2.0"]
    id: int | str | None
    result: dict[str, Any] | None = None
    error: JsonRpcError | None = None
