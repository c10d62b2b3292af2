"""Conversation branches in the store: an edit forks instead of deleting, the thread shown follows
the chosen branch, a v4 file migrates to linked turns, export/import keep every branch."""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest

from jupyter_chat_ext.errors import InvalidInput, NotFound
from jupyter_chat_ext.store import branches, schema
from jupyter_chat_ext.store.store import Store


def _tree(store: Store) -> dict:
    """Q1 A1 Q2 A2 A2' (a regenerated version), then Q1 edited: Q1' A1'."""
    s = store.create_session(title="tree")
    sid = s["id"]
    q1 = store.add_message(sid, "user", "Q1 about otters")
    a1 = store.add_message(sid, "assistant", "A1", parent_id=q1["id"])
    q2 = store.add_message(sid, "user", "Q2 about beavers")
    a2 = store.add_message(sid, "assistant", "A2", parent_id=q2["id"])
    a2b = store.add_message(sid, "assistant", "A2 again", parent_id=q2["id"])
    q1e = store.add_message(sid, "user", "Q1 about seals", parent_id=q1["parent_id"], fork=True)
    a1e = store.add_message(sid, "assistant", "A1'", parent_id=q1e["id"])
    ids = {k: v["id"] for k, v in locals().items() if isinstance(v, dict) and "role" in v}
    return {"sid": sid, **ids}


def test_user_messages_link_to_the_turn_before(store):
    t = _tree(store)
    assert store.get_message(t["q2"])["parent_id"] == t["q1"]
    assert store.get_message(t["q1"])["parent_id"] is None
    assert store.get_message(t["q1e"])["parent_id"] is None  # a sibling of the first question


def test_an_edit_keeps_the_old_branch_and_the_switch_moves_between(store):
    t = _tree(store)
    sid = t["sid"]
    shown = store.list_messages(sid)
    assert [m["id"] for m in shown] == [t["q1e"], t["a1e"]]  # the newest branch is shown
    assert shown[0]["branch"] == {"index": 2, "count": 2, "prev": t["q1"], "next": None}
    assert shown[1].get("branch") is None

    assert store.switch_branch(sid, t["q1"]) == t["q2"]  # to the old branch's last turn
    old = store.list_messages(sid)
    assert [m["id"] for m in old] == [t["q1"], t["a1"], t["q2"], t["a2"], t["a2b"]]  # nothing lost
    assert old[0]["branch"] == {"index": 1, "count": 2, "prev": None, "next": t["q1e"]}
    assert old[2]["branch"] is None
    # a new question follows the branch shown, and becomes the head
    q3 = store.add_message(sid, "user", "Q3")
    assert q3["parent_id"] == t["q2"]
    assert [m["id"] for m in store.list_messages(sid)][-1] == q3["id"]
    # `through`: the branch that leads to a message, whichever is shown
    assert [m["id"] for m in store.list_messages(sid, through=t["q1e"])] == [t["q1e"], t["a1e"]]
    # paging stays on the branch
    assert [m["id"] for m in store.list_messages(sid, before=t["q2"], limit=1)] == [t["a1"]]


def test_switch_branch_refuses_what_is_no_branch(store):
    t = _tree(store)
    with pytest.raises(InvalidInput):
        store.switch_branch(t["sid"], t["a1"])
    other = store.create_session()
    with pytest.raises(NotFound):
        store.switch_branch(other["id"], t["q1"])


def test_regenerate_cleanup_stays_on_the_branch_shown(store):
    t = _tree(store)
    sid = t["sid"]
    store.switch_branch(sid, t["q1e"])
    # what a regenerate of Q1' deletes: rows of the branch shown after its answer (none here)
    assert store.delete_messages_after(sid, t["a1e"]) == 0
    store.switch_branch(sid, t["q1"])
    assert store.delete_messages_after(sid, t["a2"]) == 1  # A2' only: Q1' and A1' are elsewhere
    assert store.get_message(t["q1e"])["content"] == "Q1 about seals"


def test_deleting_a_question_keeps_its_branch_one_thread(store):
    t = _tree(store)
    sid = t["sid"]
    store.switch_branch(sid, t["q1"])
    q3 = store.add_message(sid, "user", "Q3")
    store.delete_message(t["q2"])
    assert store.get_message(q3["id"])["parent_id"] == t["q1"]
    assert [m["id"] for m in store.list_messages(sid)][:2] == [t["q1"], t["a1"]]


def test_export_import_keeps_every_branch_and_the_one_shown(store):
    t = _tree(store)
    sid = t["sid"]
    store.switch_branch(sid, t["q1"])
    doc = json.loads(store.export_session(sid, "json"))
    assert doc["version"] == 2 and len(doc["messages"]) == 7
    assert doc["session"]["head_id"] == t["q2"]
    md = store.export_session(sid, "markdown")
    assert "Q2 about beavers" in md and "seals" not in md  # the transcript is the branch shown

    copy = store.import_session(json.dumps(doc))["id"]
    shown = store.list_messages(copy)
    assert [m["content"] for m in shown] == ["Q1 about otters", "A1", "Q2 about beavers", "A2", "A2 again"]
    assert shown[0]["branch"]["count"] == 2
    store.switch_branch(copy, shown[0]["branch"]["next"])
    assert [m["content"] for m in store.list_messages(copy)] == ["Q1 about seals", "A1'"]


def test_a_version_1_export_imports_as_one_thread(store):
    doc = {
        "format": "jupyter-chat-ext.session",
        "version": 1,
        "session": {"title": "old"},
        "messages": [
            {"id": 1, "role": "user", "content": "first"},
            {"id": 2, "role": "assistant", "content": "one", "parent_id": 1},
            {"id": 3, "role": "user", "content": "second"},
            {"id": 4, "role": "assistant", "content": "two", "parent_id": 3},
        ],
    }
    sid = store.import_session(doc)["id"]
    shown = store.list_messages(sid)
    assert [m["content"] for m in shown] == ["first", "one", "second", "two"]
    assert shown[2]["parent_id"] == shown[0]["id"]


def test_v4_file_migrates_to_linked_turns(tmp_path):
    path = tmp_path / "v4.duckdb"
    con = duckdb.connect(str(path))
    assert schema.migrate(con, target=4) == [1, 2, 3, 4]
    now = datetime(2025, 6, 1, 9, 0, 0)
    sid = "b" * 32
    con.execute(
        "INSERT INTO sessions (id, title, params, created_at, updated_at, message_count) "
        "VALUES (?, 'v4 chat', '{}', ?, ?, 5)",
        [sid, now, now],
    )
    for role, content, parent in [
        ("user", "Q1", None),
        ("assistant", "A1", 1),
        ("user", "Q2", None),
        ("assistant", "A2", 3),
        ("assistant", "A2 again", 3),
    ]:
        con.execute(
            "INSERT INTO messages (session_id, role, content, parent_id, created_at) VALUES (?, ?, ?, ?, ?)",
            [sid, role, content, parent, now],
        )
    con.close()

    with Store(path) as store:
        _, versions = store.query("SELECT max(version) FROM schema_version")
        assert versions[0][0] == schema.LATEST_VERSION == 5
        shown = store.list_messages(sid)
        assert [m["content"] for m in shown] == ["Q1", "A1", "Q2", "A2", "A2 again"]
        assert [m["parent_id"] for m in shown] == [None, 1, 1, 3, 3]
        # the SQL view shows the branches
        view = "SELECT message_id, branch, branches, shown FROM message_branches ORDER BY 1"
        _, rows = store.query(view)
        assert rows == [(1, 1, 1, True), (3, 1, 1, True)]
        q1e = store.add_message(sid, "user", "Q1 edited", fork=True)
        _, rows = store.query(view)
        assert rows == [(1, 1, 2, False), (3, 1, 1, False), (q1e["id"], 2, 2, True)]


def test_path_of_rows_is_pure():
    rows = [(1, "system", None), (2, "user", None), (3, "assistant", 2), (4, "user", 2), (5, "user", None)]
    assert branches.path_ids(rows, None) == [1, 5]
    assert branches.path_ids(rows, 4) == [1, 2, 3, 4]
    assert branches.leaf_under(rows, 2) == 4
    assert branches.branch_info(rows, [5]) == {5: {"index": 2, "count": 2, "prev": 2, "next": None}}
