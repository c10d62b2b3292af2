"""Agent turns in the ChatWidget, driven as the browser drives it, over the real in-process client
(LocalService: the core on its own loop thread, as in a kernel without a server), the packaged
model and a real stdio MCP server written with the official ``mcp`` SDK.

Each turn is one model step: a named tool_choice makes the model call ``calc__add`` under the
engine's grammar, and ``max_steps=1`` ends the turn after the call (the core tests cover the loop).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.kernel.local_service import LocalService
from jupyter_chat_ext.settings import Settings
from jupyter_chat_ext.widgets import ChatWidget

CALC = '''
from mcp.server.mcpserver import MCPServer

app = MCPServer("calc")


@app.tool()
def add(a: int, b: int) -> int:
    """Add two integers and return the sum."""
    return a + b


app.run()
'''
ADD = {"type": "function", "function": {"name": "calc__add"}}
QUESTION = "What is 2 + 3? Use the add tool."


def browser_message(w: ChatWidget, content: dict[str, Any]) -> None:
    """Deliver a custom message as the front end's ``model.send(...)`` does."""
    w._dispatch(w, content, [])


def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def calc_service(tmp_path_factory, engine) -> Iterator[LocalService]:
    """A LocalService over the shared engine whose settings name the calc MCP server (the path a
    user's config takes). One for the module: each one more starts its own MCP server."""
    tmp = tmp_path_factory.mktemp("widget-tools")
    script = tmp / "calc.py"
    script.write_text(CALC, encoding="utf-8")
    calc = {"calc": {"command": sys.executable, "args": [str(script)]}}
    service = LocalService(Settings(data_dir=tmp / "data", root_dir=tmp, mcp_servers=calc), engine=engine)
    yield service
    service.close()


def widget(client: LocalService, **kwargs: Any) -> ChatWidget:
    return ChatWidget(
        client=client, max_tokens=48, tool_choice=ADD, max_steps=1, update_interval=0.0, **kwargs
    )


def waiting_call(w: ChatWidget) -> str:
    wait_for(lambda: any(c["approval"] == "required" for c in w.pending_calls.values()), 120)
    ((call_id, call),) = w.pending_calls.items()
    assert call == {"name": "calc__add", "approval": "required", "decision": None}
    return call_id


def test_a_call_waits_for_approve_and_the_stored_call_reopens(calc_service) -> None:
    service = calc_service
    w = widget(service, tools=["calc__add"])
    browser_message(w, {"type": "send", "content": QUESTION})
    call_id = waiting_call(w)
    # the call shows in the thread at once, inside the step that made it, with no result yet
    shown = w.messages[-1]
    assert shown["role"] == "assistant" and [c["id"] for c in shown["calls"]] == [call_id]
    args = json.loads(shown["calls"][0]["arguments"])
    assert shown["calls"][0]["result"] is None and set(args) == {"a", "b"}
    with pytest.raises(InvalidInput):  # only the three decisions a user can click
        w.decide(call_id, "maybe")
    browser_message(w, {"type": "tool_decision", "call_id": call_id, "decision": "approve"})
    assert w.pending_calls[call_id]["decision"] == "approve"  # the buttons go at once
    w.wait(120)
    assert w.error == "" and not w.busy and w.pending_calls == {}
    assert "max_steps" in w.info
    # the tool row folds into its call: no bubble of its own; the result and the approval show
    assert [m["role"] for m in w.messages] == ["user", "assistant"]
    call = w.messages[-1]["calls"][0]
    assert (call["result"], call["approval"], call["is_error"]) == (
        str(args["a"] + args["b"]),
        "approved",
        False,
    )
    rows = service.list_messages(w.session_id)
    assert [m["role"] for m in rows] == ["user", "assistant", "tool"]
    assert rows[2]["metadata"]["approval"] == "approved"
    # reopened in a new widget: the same thread, drawn from the stored rows
    again = ChatWidget(client=service, session=w.session_id)
    assert again.messages == w.messages
    # a second click finds nothing waiting: the error line says so, nothing is sent
    browser_message(w, {"type": "tool_decision", "call_id": call_id, "decision": "deny"})
    assert "not waiting" in w.error


def test_stop_denies_the_waiting_call_and_ends_the_turn(calc_service) -> None:
    service = calc_service
    w = widget(service, tools=True)  # every enabled server tool: read_file and calc__add
    w.send(QUESTION)
    waiting_call(w)
    browser_message(w, {"type": "stop"})
    w.wait(120)
    assert w.error == "" and not w.busy
    call = w.messages[-1]["calls"][0]
    assert (call["approval"], call["is_error"]) == ("denied", True)
    assert service.list_messages(w.session_id)[-1]["metadata"]["approval"] == "denied"


def test_allow_listed_tools_run_unasked_when_the_browser_turns_tools_on(calc_service) -> None:
    w = widget(calc_service)
    assert w.tools_request() is None  # off: a plain turn
    pending: list[dict[str, Any]] = []
    w.observe(lambda change: pending.append(dict(change["new"])), names="pending_calls")
    w.tools = True  # what ticking the Tools box does (model.set + save_changes)
    # what c.ChatExtApp.tool_allowlist sets; the agent reads it at each turn
    allowlist = calc_service.settings.tool_allowlist
    allowlist.append("calc__add")
    try:
        w.send(QUESTION, wait=True, timeout=120)
    finally:
        allowlist.remove("calc__add")
    assert w.error == ""
    seen = [c for p in pending for c in p.values()]
    assert seen and all(c["approval"] == "auto" for c in seen)  # never any buttons
    call = w.messages[-1]["calls"][0]
    args = json.loads(call["arguments"])
    assert (call["result"], call["approval"]) == (str(args["a"] + args["b"]), "auto")


def test_thread_view_folds_tool_rows_and_keeps_orphans() -> None:
    """Rows as the store returns them (no model): a call folds its result, a long result is
    clipped for the browser, a result whose call is older than the rows loaded shows on its own."""
    from jupyter_chat_ext.widgets.thread import SHOWN_RESULT_CHARS, thread_view

    def tool(row_id: int, call_id: str, content: str, parent: int) -> dict[str, Any]:
        meta = {"tool_call_id": call_id, "name": "read_file", "arguments": '{"path": "a.txt"}'}
        return {"id": row_id, "role": "tool", "content": content, "parent_id": parent, "metadata": meta}

    call = {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path":'}}
    rows = [
        tool(1, "call_0", "older", 0),
        {"id": 2, "role": "user", "content": "read it", "metadata": {}},
        {"id": 3, "role": "assistant", "content": "", "metadata": {"tool_calls": [call]}},
        tool(4, "call_1", "x" * (SHOWN_RESULT_CHARS + 10), 3),
        {"id": 5, "role": "assistant", "content": "", "status": "streaming", "metadata": {}},
    ]
    views = thread_view(rows)
    assert [v["role"] for v in views] == ["tool", "user", "assistant", "assistant"]
    assert views[0]["calls"][0]["result"] == "older" and views[0]["content"] == ""
    folded = views[2]["calls"][0]
    assert folded["arguments"] == '{"path":'  # not JSON: shown as the model wrote it
    assert folded["result"].endswith(f"({SHOWN_RESULT_CHARS + 10:,} characters in all)")
    assert len(thread_view(rows, live=True)) == 3  # the streaming row is the live bubble's
