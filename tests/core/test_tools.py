"""ToolRegistry with real MCP servers: a stdio server written here with the official SDK (MCPServer),
one whose command does not exist, one that prints garbage; the built-in read_file on real files.

One registry (and one started "calc" server, ~2-3 s to start) serves the whole module: the tests
run in file order and the crash/restart test comes last.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time

import pytest

from jupyter_chat_ext.errors import InvalidInput, NotFound
from jupyter_chat_ext.tools import ToolRegistry

CALC = textwrap.dedent(
    '''
    import os, time
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    app = MCPServer("calc")

    @app.tool(annotations=ToolAnnotations(read_only_hint=True))
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @app.tool()
    def boom() -> str:
        """Always raises."""
        raise ValueError("kaboom")

    @app.tool()
    def slow(seconds: float) -> str:
        time.sleep(seconds)
        return "woke up"

    @app.tool(annotations=ToolAnnotations(read_only_hint=True))
    def big(n: int) -> str:
        return "x" * n

    @app.tool(annotations=ToolAnnotations(read_only_hint=True))
    def pid() -> int:
        return os.getpid()

    @app.tool()
    def die() -> str:
        os._exit(3)

    app.run()
    '''
)

#: a "server" that writes lines that are not JSON-RPC to stdout, then goes away
NOISE = "import sys\nprint('hello, I am not JSON-RPC')\nprint('{broken')\nsys.stderr.write('noise: bye\\n')\n"
#: one that writes garbage and then hangs without ever answering (killed after its start timeout)
MUTE = (
    "import os, sys, time\n"
    "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
    "print('garbage', flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    (root / "notes.txt").write_text("the secret word is PAPAYA\n", encoding="utf-8")
    (root / "big.log").write_bytes(b"0123456789abcdef" * (10 * 1024 * 1024 // 16))  # 10 MB
    (root / ".hidden").mkdir()
    (root / ".hidden" / "token").write_text("t0ps3cret")
    (root / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    nb = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Heading\n", "cell text KIWI"]}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (root / "nb.ipynb").write_text(json.dumps(nb))
    scripts = tmp_path_factory.mktemp("scripts")
    (scripts / "calc.py").write_text(CALC)
    (scripts / "noise.py").write_text(NOISE)
    (scripts / "mute.py").write_text(MUTE)
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text("outside the root")
    return {"root": root, "scripts": scripts, "outside": outside, "logs": tmp_path_factory.mktemp("logs")}


@pytest.fixture(scope="module")
def registry(files):
    py = sys.executable
    reg = ToolRegistry(
        root=files["root"],
        mcp_servers={
            "calc": {"command": py, "args": [str(files["scripts"] / "calc.py")]},
            "ghost": {"command": "/no/such/mcp-server-binary", "args": []},
            "noise": {"command": py, "args": [str(files["scripts"] / "noise.py")], "start_timeout_s": 20},
            "broken": {"args": ["neither command nor url"]},
            "mute": {
                "command": py,
                "args": [str(files["scripts"] / "mute.py"), str(files["scripts"] / "mute.pid")],
                "start_timeout_s": 1,
            },
        },
        timeout_s=30,
        max_result_chars=2000,
        log_dir=files["logs"],
    )
    yield reg
    reg.close()


async def test_lists_builtin_notebook_and_mcp_tools_and_reports_dead_servers(registry, files):
    await registry.settle(60)  # a listing starts the servers in the background; wait for them here
    tools = {t.name: t for t in await registry.list()}
    assert {"read_file", "list_cells", "read_cell", "insert_cell", "edit_cell", "run_cell"} <= set(tools)
    assert tools["read_file"].source == "builtin" and tools["read_file"].effect == "read"
    assert tools["run_cell"].source == "notebook" and tools["run_cell"].effect == "execute"
    assert tools["edit_cell"].effect == "write"
    add = tools["calc__add"]
    assert add.source == "mcp:calc" and add.effect == "read"  # readOnlyHint
    assert tools["calc__boom"].effect == "execute"  # no hint: may do anything
    assert add.parameters["properties"].keys() == {"a", "b"}
    assert add.openai() == {
        "type": "function",
        "function": {"name": "calc__add", "description": "Add two integers.", "parameters": add.parameters},
    }
    await registry.settle(60)  # the listing above may have retried a failed server (backoff over)
    status = {s["name"]: s for s in registry.status()}
    assert status["calc"]["state"] == "running" and status["calc"]["tools"] == 6
    assert status["ghost"]["state"] == "failed" and "not found" in status["ghost"]["error"]
    assert status["noise"]["state"] == "failed" and status["noise"]["error"]
    assert "noise: bye" in status["noise"]["error"]  # the tail of its stderr says what it did
    assert status["broken"]["state"] == "failed" and "either 'command'" in status["broken"]["error"]
    assert status["mute"]["state"] == "failed" and "no answer within 1 s" in status["mute"]["error"]
    mute_pid = int((files["scripts"] / "mute.pid").read_text())
    await _gone(mute_pid)  # the hung server was stopped, not left behind
    assert not any(name.startswith(("ghost__", "noise__", "broken__", "mute__")) for name in tools)


async def test_calls_an_mcp_tool(registry):
    result = await registry.call("calc__add", {"a": 2, "b": 40})
    assert (result.content, result.is_error, result.truncated) == ("42", False, False)
    # the JSON text a model writes is accepted too
    assert (await registry.call("calc__add", '{"a": 1, "b": 1}')).content == "2"


async def test_arguments_that_do_not_match_the_schema_are_an_error_result(registry):
    for args in ({"a": "two", "b": 2}, {"a": 1}, [1, 2], "{not json"):
        result = await registry.call("calc__add", args)
        assert result.is_error and result.content.startswith("invalid arguments"), (args, result)
    result = await registry.call("read_file", {"path": "notes.txt", "extra": 1})
    assert result.is_error and "extra" in result.content


async def test_a_tool_that_raises_or_times_out_is_an_error_result(registry):
    result = await registry.call("calc__boom", {})
    assert result.is_error and "boom" in result.content
    result = await registry.call("calc__slow", {"seconds": 20}, timeout_s=0.5)
    assert result.is_error and "timed out after 0.5 s" in result.content
    assert (await registry.call("calc__add", {"a": 3, "b": 4})).content == "7"  # still serving


async def test_a_huge_result_is_truncated_with_a_note(registry):
    # 4 MB through stdio: the SDK's line reader is quadratic in the line length (10 MB took 10-12 s
    # here), so the 10 MB case is the read_file test below; the cut itself is the same code
    result = await registry.call("calc__big", {"n": 4_000_000})
    assert result.truncated and not result.is_error
    assert result.content.startswith("x" * 2000)
    assert "truncated: showing 2,000 of 4,000,000 characters" in result.content
    assert len(result.content) < 2100


async def test_unknown_and_client_side_tools(registry):
    with pytest.raises(NotFound) as err:
        await registry.call("calc__nope", {})
    assert (err.value.status, err.value.code) == (404, "unknown_tool")
    with pytest.raises(NotFound):
        registry.get("no_such_tool")
    with pytest.raises(InvalidInput):
        await registry.call("edit_cell", {"index": 0, "source": "x"})  # runs in the browser
    with pytest.raises(NotFound):  # a dead server lists no tools
        await registry.call("ghost__anything", {})


async def test_read_file_is_confined_to_the_root(registry, files):
    assert (await registry.call("read_file", {"path": "notes.txt"})).content == "the secret word is PAPAYA\n"
    assert "KIWI" in (await registry.call("read_file", {"path": "nb.ipynb"})).content  # RAG loader
    for path, reason in [
        (str(files["outside"]), "outside"),
        ("../" + files["outside"].parent.name + "/secret.txt", "outside"),
        (".hidden/token", "hidden"),
        ("missing.txt", "no such file"),
        ("blob.bin", "binary"),
    ]:
        result = await registry.call("read_file", {"path": path})
        assert result.is_error and reason in result.content, (path, result)
        assert "t0ps3cret" not in result.content and "outside the root" not in result.content


async def test_read_file_of_10_mb_reads_only_what_the_model_can_see(registry):
    result = await registry.call("read_file", {"path": "big.log"})
    assert result.truncated and not result.is_error
    assert result.content.startswith("0123456789abcdef")
    assert "showing the first 2,000 characters of a 10,485,760-byte file" in result.content


async def test_a_crashed_server_is_reported_then_restarted(registry):
    old_pid = int((await registry.call("calc__pid", {})).content)
    result = await registry.call("calc__die", {})
    assert result.is_error and "closed the connection" in result.content
    calc = next(s for s in registry.status() if s["name"] == "calc")
    assert calc["state"] == "failed" and "connection lost" in calc["error"]
    early = await registry.call("calc__add", {"a": 1, "b": 2})  # within the 1 s backoff
    assert early.is_error and "not running" in early.content
    await asyncio.sleep(1.1)
    assert (await registry.call("calc__add", {"a": 1, "b": 2})).content == "3"
    calc = next(s for s in registry.status() if s["name"] == "calc")
    assert (calc["state"], calc["restarts"]) == ("running", 1)
    new_pid = int((await registry.call("calc__pid", {})).content)
    assert new_pid != old_pid
    await registry.aclose()  # stops the server process
    assert all(s["state"] != "running" for s in registry.status())
    await _gone(new_pid)


async def _gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not _alive(pid), f"process {pid} is still running"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0); its state says it is gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False
