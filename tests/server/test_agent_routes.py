"""Agent turns over HTTP: the chat stream pauses on a tool that needs approval until
``POST /chat-ext/tool-calls/{id}`` approves or denies it; that route's 400/404/409 answers.

A real Jupyter server with a real stdio MCP server (``calc``, written here with the ``mcp`` SDK)
and the packaged model; a named tool_choice makes the model call ``calc__add`` at once.
"""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from typing import Any

import pytest
from server_testlib import assert_error, on_jp_loop, parse_sse

CALC = textwrap.dedent(
    '''
    from mcp.server.mcpserver import MCPServer

    app = MCPServer("calc")

    @app.tool()
    def add(a: int, b: int) -> int:
        """Add two integers and return the sum."""
        return a + b

    app.run()
    '''
)
TOOLS = {
    "names": ["calc__add"],
    "tool_choice": {"type": "function", "function": {"name": "calc__add"}},
    "max_steps": 1,
}
PARAMS = {"max_tokens": 48, "temperature": 0, "seed": 7}


@pytest.fixture
def chat_ext_overrides(tmp_path) -> dict[str, object]:
    script = tmp_path / "calc.py"
    script.write_text(CALC, encoding="utf-8")
    return {"mcp_servers": {"calc": {"command": sys.executable, "args": [str(script)]}}}


class Stream:
    """A chat POST read as it arrives (the test answers tool calls while it is open)."""

    def __init__(self, api: Any, sid: str, body: dict[str, Any]) -> None:
        self.chunks: list[bytes] = []
        self.task = asyncio.ensure_future(
            api.fetch(
                "chat-ext",
                "sessions",
                sid,
                "chat",
                method="POST",
                body=json.dumps(body),
                raise_error=False,
                request_timeout=300,
                streaming_callback=self.chunks.append,
            )
        )

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        text = b"".join(self.chunks).decode("utf-8")
        return parse_sse(text[: text.rfind("\n\n") + 2]) if "\n\n" in text else []

    async def wait_for(self, kind: str, timeout: float = 240) -> dict[str, Any]:
        for _ in range(int(timeout / 0.05)):
            found = [d for k, d in self.events() if k == kind]
            if found:
                return found[0]
            assert not self.task.done(), f"the stream ended without a {kind} event: {self.events()}"
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {kind} event within {timeout} s")

    async def finish(self) -> list[tuple[str, dict[str, Any]]]:
        resp = await self.task
        assert resp.code == 200, resp.body
        return self.events()


@on_jp_loop
async def test_stream_waits_for_the_users_decision(api, monkeypatch):
    from jupyter_chat_ext.server import streaming

    monkeypatch.setattr(streaming, "KEEPALIVE_S", 0.1)  # a silent wait sends SSE comments
    sid = (await api.new_session())["id"]
    stream = Stream(
        api, sid, {"content": "What is 2 + 3? Use the add tool.", "params": PARAMS, "tools": TOOLS}
    )
    call = await stream.wait_for("tool_call")
    assert (call["name"], call["approval"], call["executor"]) == ("calc__add", "required", "server")
    await asyncio.sleep(0.5)  # nothing runs while the user has not answered
    assert [k for k, _ in stream.events()][-1] == "tool_call"
    assert b": keepalive\n\n" in b"".join(stream.chunks)  # ... but the connection is not silent

    cid, token = call["call_id"], call["approval_token"]
    assert_error(await api.post("tool-calls", cid, body={"decision": "maybe", "token": token}), 400)
    assert_error(
        await api.post(
            "tool-calls", cid, body={"decision": "approve", "result": {"content": "7"}, "token": token}
        ),
        400,
    )
    assert_error(await api.post("tool-calls", cid, body={"decision": "approve", "colour": 1}), 400)
    assert_error(await api.post("tool-calls", cid, body="[1, 2]"), 400)
    assert_error(
        await api.post("tool-calls", "call_unknown", body={"decision": "deny"}), 404, "unknown_tool_call"
    )
    # the call id is visible in GET .../messages while it waits; its token only in this stream
    stored = (await api.get("sessions", sid, "messages")).json["messages"]
    assert token not in json.dumps(stored)
    for forged in ({"decision": "approve"}, {"decision": "approve", "token": "guess"}):
        assert_error(await api.post("tool-calls", cid, body=forged), 403, "approval_token_mismatch")
    ok = await api.post("tool-calls", cid, body={"decision": "approve", "token": token})
    assert ok.code == 200 and ok.json == {"call_id": cid, "decision": "approve", "accepted": True}
    again = await api.post("tool-calls", cid, body={"decision": "deny", "token": token})
    assert again.code in (404, 409)  # decided (409) or, once its row is written, finished (404)

    events = await stream.finish()
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "tool_result" in kinds
    result = next(d for k, d in events if k == "tool_result")
    args = json.loads(call["arguments"])
    assert result["content"] == str(args["a"] + args["b"]) and result["approval"] == "approved"
    done = events[-1][1]
    assert done["finish_reason"] == "max_steps" and done["steps"] == 1
    assert_error(await api.post("tool-calls", cid, body={"decision": "deny", "token": token}), 404)

    stored = (await api.get("sessions", sid, "messages")).json["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool"]
    assert stored[2]["metadata"]["approval"] == "approved" and stored[2]["parent_id"] == stored[1]["id"]

    # denied: the stream goes on with the denial as the tool's result
    stream = Stream(api, sid, {"content": "And 4 + 4? Use the add tool.", "params": PARAMS, "tools": TOOLS})
    call = await stream.wait_for("tool_call")
    reply = {"decision": "deny", "token": call["approval_token"]}
    assert (await api.post("tool-calls", call["call_id"], body=reply)).code == 200
    events = await stream.finish()
    result = next(d for k, d in events if k == "tool_result")
    assert result["approval"] == "denied" and result["is_error"] and "denied" in result["content"]
    stored = (await api.get("sessions", sid, "messages")).json["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "tool"] * 2


@on_jp_loop
async def test_bad_tools_field_is_a_json_error_before_the_stream(api):
    sid = (await api.new_session())["id"]
    for tools, status, code in (
        ({"names": "calc__add"}, 400, None),
        ({"max_steps": 99}, 400, None),
        ({"tool_choice": {"type": "function", "function": "calc__add"}}, 400, None),  # was a 500
        ({"names": ["no_such_tool"]}, 404, "unknown_tool"),
        ({"names": ["edit_cell"]}, 400, None),  # a notebook tool this client did not offer to run
    ):
        reply = await api.post(
            "sessions", sid, "chat", body={"content": "hi", "params": PARAMS, "tools": tools}
        )
        assert_error(reply, status, code)
    assert (await api.get("sessions", sid, "messages")).json["messages"] == []
