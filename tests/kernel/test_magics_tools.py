"""``%%chat --tools`` in a real kernel (core in-process): the model calls a server tool that needs
approval, the kernel denies it with a note, the call, its result and the answer show in the cell
output and are stored as rows; bad option combinations are usage errors before any write."""

from __future__ import annotations

from kernel_harness import Kernel

SETUP = (
    "from jupyter_chat_ext.kernel.connection import get_client as _gc\n"
    "_magics = get_ipython().magics_manager.registry['ChatMagics']\n"
)


def test_tool_choice_without_tools_is_a_usage_error(local_kernel: Kernel) -> None:
    local_kernel.execute(SETUP)
    before = local_kernel.value("len(_gc().list_sessions())")
    res = local_kernel.execute("%%chat --tool-choice required\nhello")
    assert res.status == "error" and "--tool-choice goes with --tools" in res.stderr + res.error_text
    assert local_kernel.value("len(_gc().list_sessions())") == before


CALC = '''
from mcp.server.mcpserver import MCPServer

app = MCPServer("calc")


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers and return the sum."""
    return a + b


app.run()
'''


def test_a_tool_that_needs_approval_is_denied_with_a_note(local_kernel: Kernel) -> None:
    # the in-process core gets a real stdio MCP server (the kernel has no server config to read)
    setup = (
        f"open('calc.py', 'w').write({CALC!r})\n"
        "import sys\n"
        "from jupyter_chat_ext.tools import ToolRegistry\n"
        "_svc = _gc().service\n"
        "_svc.agent.registry = ToolRegistry(root='.', log_dir='mcp-logs', mcp_servers={'calc': "
        "{'command': sys.executable, 'args': ['calc.py']}})\n"
        # a turn offers the tools running now (a starting server is not waited for): start calc
        "await _svc.agent.registry.settle(60)\n"
    )
    res = local_kernel.execute(SETUP + setup)
    assert res.status == "ok", res.error_text
    res = local_kernel.execute(
        "%%chat --tools --tool-choice required --seed 0 --max-tokens 48 --format text --no-history\n"
        "What is 2 + 3? Use the add tool."
    )
    assert res.status == "ok", res.error_text
    out = res.stdout
    assert "🔧 `calc__add(a=" in out, out
    assert "⛔ `calc__add` executes and needs approval: denied" in out and "tool_allowlist" in out
    assert "⚠️ `calc__add` → the user denied this call" in out
    # stored as rows: the call, its (denied) result, then the model's answer to the denial. Later
    # steps run under tool_choice "auto"; whether the 135M model tries the call again there depends on
    # the llama.cpp build's numerics (it does with this machine's AVX512 build, 8 steps, each denied),
    # so the rows are checked step by step rather than counted
    last = local_kernel.value("_magics.last")
    assert last["status"] == "complete" and last["steps"] >= 2
    rows = local_kernel.value(f"_gc().list_messages({last['session_id']!r})")
    roles = [m["role"] for m in rows]
    assert roles[:3] == ["user", "assistant", "tool"], roles
    assert roles.count("assistant") == last["steps"]
    assert all(r == "assistant" for r in roles[1::2]) and all(r == "tool" for r in roles[2::2]), roles
    for i, row in enumerate(rows):
        if row["role"] == "tool":  # every call asked, every call denied, each result after its call
            call = rows[i - 1]["metadata"]["tool_calls"][0]
            assert row["metadata"]["tool_call_id"] == call["id"] and row["metadata"]["approval"] == "denied"
    if roles[-1] == "assistant":  # the model answered the denial: that answer is the turn's text
        assert rows[-1]["content"] == last["text"] and rows[-1]["content"] in out
    local_kernel.execute("_svc.agent.registry.close()")
