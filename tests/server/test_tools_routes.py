"""GET /chat-ext/tools on a real Jupyter server configured with MCP servers: a working stdio
server written here with the `mcp` SDK, one whose command does not exist (reported, not fatal),
and one that prints non-JSON and stays alive: GET /tools never waits for a server to start, it
answers with each server's state (``starting`` first) and the tools of those running.
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time

import pytest
from server_testlib import assert_error, on_jp_loop

ECHO = textwrap.dedent(
    '''
    from mcp.server.mcpserver import MCPServer

    app = MCPServer("echo")

    @app.tool()
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    app.run()
    '''
)


@pytest.fixture
def chat_ext_overrides(tmp_path):
    script = tmp_path / "echo_server.py"
    script.write_text(ECHO)
    babble = tmp_path / "babble.py"
    babble.write_text(BABBLE)
    return {
        "mcp_servers": {
            "echo": {"command": sys.executable, "args": [str(script)]},
            "ghost": {"command": "/no/such/mcp-binary"},
            # prints non-JSON and stays alive: its start times out (default 30 s) and backs off
            "babble": {"command": sys.executable, "args": [str(babble)]},
        },
        "tool_timeout_s": 30.0,
    }


BABBLE = "import sys, time\nwhile True:\n    print('not json at all', flush=True)\n    time.sleep(0.5)\n"


async def tools_when(api, ready, timeout: float = 90.0):
    """GET /tools until ``ready(servers)`` holds; each answer must come at once (no server waited for)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = await api.get("tools")
        assert reply.code == 200, reply.body
        servers = {s["name"]: s for s in reply.json["servers"]}
        if ready(servers):
            return reply, servers
        assert time.monotonic() < deadline, servers
        await asyncio.sleep(0.2)


@on_jp_loop
async def test_tools_lists_builtin_notebook_and_mcp_tools_with_server_state(api, chat_app, jp_root_dir):
    first = await api.get("tools")
    assert first.code == 200, first.body
    # the first listing started the servers without waiting for them: babble is still starting
    states = {s["name"]: s["state"] for s in first.json["servers"]}
    assert states["babble"] == "starting", states
    assert {"read_file", "list_cells"} <= {t["name"] for t in first.json["tools"]}
    reply, _ = await tools_when(
        api, lambda s: s["echo"]["state"] == "running" and s["ghost"]["state"] == "failed"
    )
    tools = {t["name"]: t for t in reply.json["tools"]}
    assert {"read_file", "list_cells", "read_cell", "insert_cell", "edit_cell", "run_cell"} <= set(tools)
    shout = tools["echo__shout"]
    assert shout == {
        "name": "echo__shout",
        "description": "Upper-case the text.",
        "parameters": shout["parameters"],
        "source": "mcp:echo",
        "effect": "execute",
        "enabled": True,
    }
    assert shout["parameters"]["required"] == ["text"]
    assert tools["insert_cell"]["parameters"]["properties"]["cell_type"]["enum"] == ["code", "markdown"]
    servers = {s["name"]: s for s in reply.json["servers"]}
    assert servers["echo"]["state"] == "running" and servers["echo"]["transport"] == "stdio"
    assert servers["ghost"]["state"] == "failed" and "not found" in servers["ghost"]["error"]

    # the same registry the agent uses: its MCP tool runs, read_file reads under the server root
    core = await chat_app.core()
    assert (await core.tools.call("echo__shout", {"text": "hi"})).content == "HI"
    (jp_root_dir / "hello.txt").write_text("hello from the root")
    assert (await core.tools.call("read_file", {"path": "hello.txt"})).content == "hello from the root"
    assert core.settings.tool_timeout_s == 30.0


@on_jp_loop
async def test_tools_needs_credentials(api):
    reply = await api.get("tools", headers={"Authorization": "token wrong"})
    assert_error(reply, 403, "forbidden")
