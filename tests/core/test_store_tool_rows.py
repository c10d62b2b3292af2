"""Schema v4: tool rows (an agent's tool results) — the migration from v3, the checks on their
links, and an export/import round trip that keeps every link."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest

from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.store import schema
from jupyter_chat_ext.store.store import Store

CALL = {
    "id": "call_0a1b",
    "type": "function",
    "function": {"name": "calc__add", "arguments": '{"a": 2, "b": 3}'},
}
TOOL_META = {
    "tool_call_id": "call_0a1b",
    "name": "calc__add",
    "arguments": '{"a": 2, "b": 3}',
    "is_error": False,
    "approval": "approved",
    "source": "mcp:calc",
    "effect": "write",
}


def _agent_turn(store: Store) -> tuple[str, list[int]]:
    sess = store.create_session(title="agent")
    user = store.add_message(sess["id"], "user", "what is 2 + 3?")
    step = store.add_message(
        sess["id"], "assistant", "", parent_id=user["id"], metadata={"tool_calls": [CALL]}
    )
    tool = store.add_message(sess["id"], "tool", "5", parent_id=step["id"], metadata=TOOL_META)
    final = store.add_message(sess["id"], "assistant", "2 + 3 = 5", parent_id=step["id"])
    return sess["id"], [user["id"], step["id"], tool["id"], final["id"]]


def test_v3_file_is_upgraded_to_tool_rows_with_data_kept(tmp_path):
    path = tmp_path / "v3.duckdb"
    con = duckdb.connect(str(path))
    assert schema.migrate(con, target=3) == [1, 2, 3]
    now = datetime(2026, 1, 2, 3, 4, 5)
    con.execute(
        "INSERT INTO sessions (id, title, created_at, updated_at, message_count) "
        "VALUES ('s3', 'v3', ?, ?, 2)",
        [now, now],
    )
    con.execute(
        "INSERT INTO messages (session_id, role, content, status, metadata, created_at, tokens) VALUES "
        "('s3', 'user', 'old question', 'complete', '{}', ?, 3), "
        "('s3', 'assistant', 'old answer', 'interrupted', '{\"finish_reason\": \"cancelled\"}', ?, 4)",
        [now, now],
    )
    with pytest.raises(duckdb.ConstraintException):  # v3 refuses the new role
        con.execute(
            "INSERT INTO messages (session_id, role, content, created_at) VALUES ('s3', 'tool', 'x', ?)",
            [now],
        )
    con.close()

    with Store(path) as store:
        old = store.list_messages("s3")
        assert [(m["id"], m["role"], m["content"], m["status"], m["tokens"]) for m in old] == [
            (1, "user", "old question", "complete", 3),
            (2, "assistant", "old answer", "interrupted", 4),
        ]
        assert old[1]["metadata"] == {"finish_reason": "cancelled"}
        tool = store.add_message("s3", "tool", "42", parent_id=2, metadata=TOOL_META)
        assert tool["id"] > 2 and tool["role"] == "tool"  # the sequence carried over
        assert store.get_session("s3")["message_count"] == 3


def test_tool_rows_need_their_links(store):
    sess = store.create_session()
    with pytest.raises(InvalidInput, match="tool_call_id"):
        store.add_message(sess["id"], "tool", "5", metadata={"name": "add"})
    with pytest.raises(InvalidInput, match="approval"):
        store.add_message(sess["id"], "tool", "5", metadata={**TOOL_META, "approval": "maybe"})
    with pytest.raises(InvalidInput, match=r"tool_calls\[0\]\.function\.arguments"):
        bad = {**CALL, "function": {"name": "add", "arguments": {"a": 1}}}
        store.add_message(sess["id"], "assistant", "", metadata={"tool_calls": [bad]})
    with pytest.raises(InvalidInput, match="role must be one of"):
        store.add_message(sess["id"], "function", "5")
    assert store.list_messages(sess["id"]) == []


def test_export_import_round_trip_keeps_tool_rows(store):
    session_id, ids = _agent_turn(store)
    doc = json.loads(store.export_session(session_id, "json"))
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant", "tool", "assistant"]

    copy = store.import_session(doc)
    got = store.list_messages(copy["id"])
    assert [(m["role"], m["content"]) for m in got] == [
        ("user", "what is 2 + 3?"),
        ("assistant", ""),
        ("tool", "5"),
        ("assistant", "2 + 3 = 5"),
    ]
    new_ids = [m["id"] for m in got]
    assert set(new_ids).isdisjoint(ids)
    # links follow the new ids: the tool row and the final answer hang off the calling step
    assert [m["parent_id"] for m in got] == [None, new_ids[0], new_ids[1], new_ids[1]]
    assert got[1]["metadata"]["tool_calls"] == [CALL] and got[2]["metadata"] == TOOL_META

    markdown = store.export_session(copy["id"], "markdown")
    assert "## Tool `calc__add`" in markdown and "approval: approved" in markdown
    assert '_calls `calc__add` with `{"a": 2, "b": 3}`_' in markdown


def test_import_refuses_a_tool_row_without_its_call_id(store):
    session_id, _ = _agent_turn(store)
    doc = json.loads(store.export_session(session_id, "json"))
    del doc["messages"][2]["metadata"]["tool_call_id"]
    before = store.count_sessions()
    with pytest.raises(InvalidInput, match=r"messages\[2\]\.metadata\.tool_call_id"):
        store.import_session(doc)
    assert store.count_sessions() == before
