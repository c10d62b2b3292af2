"""/chat-ext/mcp: our history and RAG as an MCP server, called by the official `mcp` SDK's client.

A real Jupyter server with the extension, a message stored in its DuckDB, and the SDK's
streamable-HTTP client (with the Jupyter token in the Authorization header) listing and calling
the tools. Without the token the endpoint answers 403 before the MCP transport sees the request.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest
from server_testlib import on_jp_loop

TOOLS = {"search_history", "get_session", "search_collection", "list_collections"}


@pytest.fixture
def mcp_url(http_server_client, jp_http_port, jp_base_url) -> str:
    # http_server_client: pytest-jupyter only accepts connections on the port once it is asked for
    return f"http://localhost:{jp_http_port}{jp_base_url}chat-ext/mcp"


@asynccontextmanager
async def mcp_client(url: str, token: str | None):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"token {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http), cache=None) as client,
    ):
        yield client


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


@on_jp_loop
async def test_an_mcp_client_lists_and_calls_our_tools(chat_app, jp_serverapp, mcp_url):
    core = await chat_app.core()
    session = core.chat.create_session(title="fruit talk")
    core.store.add_message(session["id"], "user", "remember the code word MANGOSTEEN please")
    core.store.add_message(session["id"], "assistant", "I will remember it.")

    async with mcp_client(mcp_url, jp_serverapp.identity_provider.token) as client:
        listing = await client.list_tools()
        tools = {tool.name: tool for tool in listing.tools}
        assert set(tools) == TOOLS
        assert all(tool.annotations.read_only_hint for tool in tools.values())
        assert tools["search_history"].input_schema["required"] == ["query"]

        found = await client.call_tool("search_history", {"query": "mangosteen"})
        assert not found.is_error, text_of(found)
        hits = json.loads(text_of(found))["results"]
        assert [h["session_id"] for h in hits] == [session["id"]]
        assert "MANGOSTEEN" in hits[0]["snippet"]
        assert found.structured_content == {"results": hits}

        got = await client.call_tool("get_session", {"session_id": session["id"]})
        data = json.loads(text_of(got))
        assert data["session"]["title"] == "fruit talk"
        assert [m["role"] for m in data["messages"]] == ["user", "assistant"]

        listed = await client.call_tool("list_collections", {})
        assert not listed.is_error and json.loads(text_of(listed)) == {"collections": []}

        # bad input: answers the calling model can read, never a transport failure
        missing = await client.call_tool("search_collection", {"collection": "nope", "query": "x"})
        assert missing.is_error and "not_found" in text_of(missing)
        bad = await client.call_tool("search_history", {"query": 42})
        assert bad.is_error and "invalid arguments" in text_of(bad)
        unknown_session = await client.call_tool("get_session", {"session_id": "0" * 32})
        assert unknown_session.is_error and "not_found" in text_of(unknown_session)
        unknown = await client.call_tool("drop_tables", {})
        assert unknown.is_error and "unknown tool" in text_of(unknown)


@on_jp_loop
async def test_our_tool_registry_uses_it_as_a_streamable_http_mcp_server(chat_app, jp_serverapp, mcp_url):
    """The other half of the loop: ToolRegistry's HTTP transport (url + headers) against /mcp."""
    from jupyter_chat_ext.tools import ToolRegistry

    core = await chat_app.core()
    session = core.chat.create_session(title="t")
    core.store.add_message(session["id"], "user", "the ferry leaves at PIER NINE")
    token = jp_serverapp.identity_provider.token
    registry = ToolRegistry(
        mcp_servers={
            "history": {"url": mcp_url, "headers": {"Authorization": f"token {token}"}},
            "locked": {"url": mcp_url},  # no token: refused, reported, not fatal
        }
    )
    try:
        await registry.settle(60)  # a listing answers with what runs now; wait for the starts first
        tools = {t.name: t for t in await registry.list()}
        assert tools["history__search_history"].effect == "read"  # our readOnlyHint
        assert tools["history__search_history"].source == "mcp:history"
        result = await registry.call("history__search_history", {"query": "pier"})
        assert not result.is_error and session["id"] in result.content, result
        status = {s["name"]: s for s in registry.status()}
        assert status["history"]["state"] == "running" and status["history"]["transport"] == "http"
        assert status["locked"]["state"] == "failed" and status["locked"]["error"]
    finally:
        await registry.aclose()


@on_jp_loop
async def test_no_token_is_refused_before_the_mcp_transport(http_server_client, jp_base_url, mcp_url):
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    for headers in ({}, {"Authorization": "token wrong"}):
        reply = await http_server_client.fetch(
            f"{jp_base_url}chat-ext/mcp",
            method="POST",
            body=ping,
            headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
            raise_error=False,
        )
        assert reply.code in (401, 403), reply.body[:200]
        assert json.loads(reply.body)["error"]["code"] in ("forbidden", "unauthorized")
    from mcp.shared.exceptions import MCPError

    with pytest.raises(Exception) as err:  # the SDK client gives up on the refused handshake
        async with mcp_client(mcp_url, None) as client:
            await client.list_tools()
    leaf = err.value
    while getattr(leaf, "exceptions", None):  # anyio wraps it in task-group exception groups
        leaf = leaf.exceptions[0]
    assert isinstance(leaf, MCPError) and "error response" in str(leaf)
