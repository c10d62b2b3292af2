"""GET /chat-ext/tools on a real Jupyter server configured with two MCP servers: a working stdio
server written here with the `mcp` SDK, and one whose command does not exist (reported, not fatal).
"""

from __future__ import annotations

import sys
import textwrap

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
    return {
        "mcp_servers": {
            "echo": {"command": sys.executable, "args": [str(script)]},
            "ghost": {"command": "/no/such/mcp-binary"},
        },
        "tool_timeout_s": 30.0,
    }


@on_jp_loop
async def test_tools_lists_builtin_notebook_and_mcp_tools_with_server_state(api, chat_app, jp_root_dir):
    reply = await api.get("tools")
    assert reply.code == 200, reply.body
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
