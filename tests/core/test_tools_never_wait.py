"""Tools never wait for an MCP server that is starting or broken (issue 19): a stdio "server" that
prints non-JSON and stays alive made every listing take 17-18 s and an agent turn wait 46 s for
its first byte. Now a listing starts it in the background and answers with what runs now; an
agent turn offers the tools available and names the servers that are not (``unavailable_servers``
on its start event); the failed start goes to backoff without blocking anyone."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_chat_ext.chat.service import ChatService
from jupyter_chat_ext.settings import Settings
from jupyter_chat_ext.store.store import Store
from jupyter_chat_ext.tools.registry import ToolRegistry

BABBLE = "import sys, time\nwhile True:\n    print('not json at all', flush=True)\n    time.sleep(0.5)\n"


def babbling_registry(tmp_path: Path, start_timeout_s: float) -> ToolRegistry:
    script = tmp_path / "babble.py"
    script.write_text(BABBLE)
    (tmp_path / "notes.txt").write_text("the secret word is MANGO\n")
    server = {"command": sys.executable, "args": [str(script)], "start_timeout_s": start_timeout_s}
    return ToolRegistry(
        root=tmp_path, mcp_servers={"babble": server}, timeout_s=30, log_dir=tmp_path / "logs"
    )


@pytest.fixture
def babbling(tmp_path: Path) -> Iterator[ToolRegistry]:
    reg = babbling_registry(tmp_path, 3)
    yield reg
    reg.close()


async def test_a_listing_does_not_wait_for_a_starting_server(babbling: ToolRegistry) -> None:
    names = {t.name for t in await babbling.list()}
    assert "read_file" in names and not any(n.startswith("babble__") for n in names)
    # answered while the server was still starting (its start takes up to 3 s, then fails)
    assert babbling.status()[0]["state"] == "starting"
    assert babbling.unavailable() == [{"name": "babble", "state": "starting", "error": None}]
    await babbling.settle(60)
    status = babbling.status()[0]
    assert status["state"] == "failed" and "no answer within 3 s" in status["error"]
    assert status["retry_in_s"] is not None  # in backoff: the next listing does not start it
    assert {t.name for t in await babbling.list()} == names
    assert babbling.status()[0]["state"] == "failed"


async def test_an_agent_turn_uses_the_tools_available_now(tmp_path: Path, engine: Any) -> None:
    # a start that would take 60 s to fail: the turn's first event comes long before (no timing
    # assert: the server is still "starting" when it does)
    babbling = babbling_registry(tmp_path, 60)
    settings = Settings(data_dir=tmp_path / "data", tool_allowlist=["read_file"])
    svc = ChatService(Store(settings.db_path), engine, settings, tools=babbling)
    try:
        sid = svc.create_session()["id"]
        tools = {
            "names": ["read_file"],
            "tool_choice": {"type": "function", "function": {"name": "read_file"}},
            "max_steps": 1,
        }
        events = svc.chat(sid, "Read notes.txt", {"temperature": 0, "max_tokens": 32}, tools=tools)
        start = await events.__anext__()
        # the first event came while the babbling server was still starting: it was not waited for
        assert start["type"] == "start"
        assert start["unavailable_servers"] == [{"name": "babble", "state": "starting", "error": None}]
        rest = [e async for e in events]
        assert rest[-1]["type"] == "done"
    finally:
        svc.close(close_engine=False)
        babbling.close()
