"""The DuckDB Store against real files in tmp dirs: CRUD, paging, metrics, export/import, SQL door,
response cache, locking and durability. Search and migrations have their own files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from datetime import datetime
from pathlib import Path

import pytest

from jupyter_chat_ext.errors import InvalidInput, NotFound, Unavailable
from jupyter_chat_ext.store.store import Store

REPO = Path(__file__).resolve().parents[2]


def _metrics(**over):
    base = dict(
        prompt_tokens=12,
        completion_tokens=30,
        ttft_s=0.25,
        tokens_per_s=14.5,
        total_s=2.3,
        model="smollm2-135m-instruct",
        device="cpu",
        finish_reason="stop",
    )
    base.update(over)
    return base


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, cwd=REPO
    )


# -- sessions -------------------------------------------------------------------------------------


def test_create_get_session_fields(store):
    s = store.create_session(title="  Plans  ", model="smollm2", system_prompt="Be brief.", params={"t": 0.2})
    assert len(s["id"]) == 32 and int(s["id"], 16) >= 0
    assert s["title"] == "Plans"
    assert (s["model"], s["system_prompt"], s["params"], s["pinned"]) == (
        "smollm2",
        "Be brief.",
        {"t": 0.2},
        False,
    )
    assert s["message_count"] == 0 and s["prompt_tokens"] == 0 and s["completion_tokens"] == 0
    assert datetime.fromisoformat(s["created_at"]).utcoffset().total_seconds() == 0
    assert store.get_session(s["id"]) == s
    untitled = store.create_session()
    assert untitled["title"] is None and untitled["params"] == {}


def test_update_session_fields_and_pinning(store):
    s = store.create_session(title="a")
    pinned = store.update_session(s["id"], pinned=True)
    assert pinned["pinned"] is True
    assert pinned["updated_at"] == s["updated_at"]  # pinning is not an edit
    u = store.update_session(s["id"], title="b", model="m2", system_prompt=None, params={"top_p": 0.9})
    assert (u["title"], u["model"], u["system_prompt"], u["params"]) == ("b", "m2", None, {"top_p": 0.9})
    assert u["updated_at"] > s["updated_at"]
    assert store.update_session(s["id"]) == store.get_session(s["id"])


def test_list_sessions_orders_pinned_then_recent_and_pages(store):
    a = store.create_session(title="a")
    b = store.create_session(title="b")
    c = store.create_session(title="c")
    assert [s["id"] for s in store.list_sessions()] == [c["id"], b["id"], a["id"]]
    store.add_message(a["id"], "user", "bump")  # a message makes a the most recent
    assert [s["id"] for s in store.list_sessions()] == [a["id"], c["id"], b["id"]]
    store.update_session(b["id"], pinned=True)
    assert [s["id"] for s in store.list_sessions()] == [b["id"], a["id"], c["id"]]
    assert [s["id"] for s in store.list_sessions(limit=2, offset=1)] == [a["id"], c["id"]]
    assert store.list_sessions(offset=3) == []
    assert store.count_sessions() == 3
    listed = {s["id"]: s for s in store.list_sessions()}
    assert listed[a["id"]]["message_count"] == 1


def test_delete_session_removes_messages_metrics_and_search_rows(store):
    s = store.create_session(title="gone")
    keep = store.create_session(title="kept")
    m = store.add_message(s["id"], "assistant", "zebra answer")
    store.add_metrics(m["id"], **_metrics())
    store.add_message(keep["id"], "user", "zebra question")
    store.delete_session(s["id"])
    with pytest.raises(NotFound):
        store.get_session(s["id"])
    with pytest.raises(NotFound):
        store.get_message(m["id"])
    _, rows = store.query(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM metrics), "
        "(SELECT count(*) FROM message_search)"
    )
    assert rows == [(1, 0, 1)]
    assert [h["session_id"] for h in store.search_messages("zebra")] == [keep["id"]]
    with pytest.raises(NotFound):
        store.delete_session(s["id"])


# -- messages -------------------------------------------------------------------------------------


def test_add_and_get_messages_with_all_fields(store):
    s = store.create_session(title="t")
    u = store.add_message(s["id"], "user", "hi", model="m", params={"temperature": 0})
    a = store.add_message(
        s["id"],
        "assistant",
        "partial",
        parent_id=u["id"],
        status="interrupted",
        metadata={"citations": [{"source": "a.md", "location": {"line": 2}, "score": 0.5, "text": "x"}]},
    )
    e = store.add_message(s["id"], "assistant", "", status="error", metadata={"error": {"code": "x"}})
    assert isinstance(u["id"], int) and u["id"] < a["id"] < e["id"]
    assert (u["role"], u["content"], u["model"], u["params"], u["status"]) == (
        "user",
        "hi",
        "m",
        {"temperature": 0},
        "complete",
    )
    assert a["parent_id"] == u["id"] and a["status"] == "interrupted"
    assert a["metadata"]["citations"][0]["location"] == {"line": 2}
    assert e["status"] == "error" and e["content"] == ""
    assert u["metrics"] is None
    assert store.get_message(a["id"]) == a
    session = store.get_session(s["id"])
    assert session["message_count"] == 3 and session["updated_at"] >= e["created_at"]


def test_update_message_content_status_metadata(store):
    s = store.create_session()
    m = store.add_message(s["id"], "assistant", "", status="interrupted")
    done = store.update_message(m["id"], content="final answer", status="complete", metadata={"seed": 3})
    assert (done["content"], done["status"], done["metadata"]) == ("final answer", "complete", {"seed": 3})
    assert store.update_message(m["id"]) == done
    assert [h["message_id"] for h in store.search_messages("final")] == [m["id"]]


def test_list_messages_paging_with_before(store):
    s = store.create_session()
    other = store.create_session()
    ids = []
    for i in range(25):
        ids.append(store.add_message(s["id"], "user" if i % 2 == 0 else "assistant", f"message {i}")["id"])
        store.add_message(other["id"], "user", f"noise {i}")  # interleaved rows of another session
    assert [m["id"] for m in store.list_messages(s["id"])] == ids
    last = store.list_messages(s["id"], limit=10)
    assert [m["id"] for m in last] == ids[-10:]
    # page backwards with before= until nothing is left
    pages, before = [], None
    while True:
        page = store.list_messages(s["id"], before=before, limit=10)
        if not page:
            break
        pages.append([m["id"] for m in page])
        before = page[0]["id"]
    assert pages == [ids[15:], ids[5:15], ids[:5]]
    assert [m["content"] for m in store.list_messages(s["id"], before=ids[3])] == [
        "message 0",
        "message 1",
        "message 2",
    ]


def test_delete_message_and_delete_after(store):
    s = store.create_session()
    ms = [store.add_message(s["id"], "user", f"m{i}") for i in range(6)]
    reply = store.add_message(s["id"], "assistant", "reply", parent_id=ms[5]["id"])
    store.add_metrics(reply["id"], **_metrics())
    store.delete_message(ms[5]["id"])
    assert store.get_message(reply["id"])["parent_id"] is None  # no dangling parent
    assert store.get_session(s["id"])["message_count"] == 6
    # only the rest of that message's own turn goes (what regenerate replaces): later turns stay
    assert store.delete_messages_after(s["id"], ms[2]["id"]) == 0
    step = store.add_message(s["id"], "assistant", "step 2", parent_id=reply["id"])
    store.add_metrics(step["id"], **_metrics())
    assert store.delete_messages_after(s["id"], reply["id"]) == 1  # the later step of that turn
    assert [m["content"] for m in store.list_messages(s["id"])] == ["m0", "m1", "m2", "m3", "m4", "reply"]
    session = store.get_session(s["id"])
    reply_metrics = store.get_message(reply["id"])["metrics"]
    assert (session["message_count"], session["prompt_tokens"], session["completion_tokens"]) == (
        6,
        reply_metrics["prompt_tokens"],
        reply_metrics["completion_tokens"],
    )
    with pytest.raises(NotFound):
        store.delete_message(ms[5]["id"])


def test_metrics_join_and_session_sums(store):
    s = store.create_session()
    u = store.add_message(s["id"], "user", "q")
    a1 = store.add_message(s["id"], "assistant", "a1", parent_id=u["id"])
    a2 = store.add_message(s["id"], "assistant", "a2", parent_id=u["id"])
    store.add_metrics(a1["id"], **_metrics(prompt_tokens=10, completion_tokens=5))
    store.add_metrics(a2["id"], **_metrics(prompt_tokens=11, completion_tokens=7, finish_reason="length"))
    got = store.get_message(a2["id"])["metrics"]
    assert got == _metrics(prompt_tokens=11, completion_tokens=7, finish_reason="length")
    by_id = {m["id"]: m["metrics"] for m in store.list_messages(s["id"])}
    assert by_id[u["id"]] is None and by_id[a1["id"]]["completion_tokens"] == 5
    sess = store.get_session(s["id"])
    assert (sess["prompt_tokens"], sess["completion_tokens"]) == (21, 12)
    # replacing a generation's metrics replaces its share of the sums
    store.add_metrics(a1["id"], **_metrics(prompt_tokens=1, completion_tokens=1, ttft_s=None))
    sess = store.get_session(s["id"])
    assert (sess["prompt_tokens"], sess["completion_tokens"]) == (12, 8)
    assert store.get_message(a1["id"])["metrics"]["ttft_s"] is None
    listed = next(x for x in store.list_sessions() if x["id"] == s["id"])
    assert (listed["prompt_tokens"], listed["completion_tokens"]) == (12, 8)
    _, rows = store.query(
        "SELECT sum(prompt_tokens), sum(completion_tokens) FROM metrics JOIN messages m ON m.id = message_id "
        f"WHERE m.session_id = '{s['id']}'"
    )
    assert rows == [(12, 8)]


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"title": ""},
        {"title": "   "},
        {"title": 5},
        {"title": "x" * 1001},
        {"model": ""},
        {"system_prompt": ["x"]},
        {"params": [1, 2]},
        {"params": {"x": object()}},
        {"params": {"x": float("nan")}},
    ],
)
def test_create_session_rejects_bad_input(store, kwargs):
    with pytest.raises(InvalidInput):
        store.create_session(**kwargs)
    assert store.count_sessions() == 0


def test_bad_message_input_and_unknown_ids(store):
    s = store.create_session()
    other = store.create_session()
    foreign = store.add_message(other["id"], "user", "x")
    for args, kwargs in [
        (("tool", "x"), {}),  # a tool row must name its call (metadata.tool_call_id)
        (("function", "x"), {}),
        (("user", None), {}),
        (("user", 3), {}),
        (("user", "x"), {"status": "done"}),
        (("user", "x"), {"metadata": "notes"}),
        (("user", "x"), {"params": 1}),
        (("user", "x"), {"parent_id": foreign["id"]}),
    ]:
        with pytest.raises(InvalidInput):
            store.add_message(s["id"], *args, **kwargs)
    assert store.get_session(s["id"])["message_count"] == 0
    with pytest.raises(NotFound):
        store.add_message(s["id"], "user", "x", parent_id=10**9)
    for call in (
        lambda: store.get_session("0" * 32),
        lambda: store.get_session(None),
        lambda: store.update_session("nope", title="x"),
        lambda: store.delete_session("nope"),
        lambda: store.add_message("nope", "user", "x"),
        lambda: store.list_messages("nope"),
        lambda: store.export_session("nope"),
        lambda: store.get_message(10**9),
        lambda: store.get_message("1"),
        lambda: store.update_message(10**9, content="x"),
        lambda: store.add_metrics(10**9, **_metrics()),
        lambda: store.delete_messages_after(s["id"], foreign["id"]),
    ):
        with pytest.raises(NotFound):
            call()
    m = store.add_message(s["id"], "user", "ok")
    for bad in (
        {"status": "finished"},
        {"metadata": []},
        {"content": 7},
    ):
        with pytest.raises(InvalidInput):
            store.update_message(m["id"], **bad)
    for bad in (
        {"prompt_tokens": -1},
        {"completion_tokens": 1.5},
        {"ttft_s": -0.1},
        {"tokens_per_s": "fast"},
    ):
        with pytest.raises(InvalidInput):
            store.add_metrics(m["id"], **_metrics(**bad))
    for bad in ({"limit": 0}, {"limit": 10_000}, {"before": -1}, {"limit": "5"}):
        with pytest.raises(InvalidInput):
            store.list_messages(s["id"], **bad)
    for bad in ({"limit": 0}, {"offset": -1}):
        with pytest.raises(InvalidInput):
            store.list_sessions(**bad)
    for bad in ({"title": ""}, {"pinned": "yes"}, {"params": "x"}):
        with pytest.raises(InvalidInput):
            store.update_session(s["id"], **bad)
    with pytest.raises(InvalidInput):
        store.export_session(s["id"], "html")
    assert store.get_message(m["id"])["status"] == "complete"


# -- export / import ------------------------------------------------------------------------------


def _conversation(store):
    s = store.create_session(
        title="Round trip", model="smollm2", system_prompt="Be exact.", params={"seed": 1}
    )
    u = store.add_message(
        s["id"], "user", "What is *DuckDB*?\n\n```sql\nSELECT 1;\n```", params={"max_tokens": 8}
    )
    a = store.add_message(
        s["id"],
        "assistant",
        "An embedded analytical database. ünïcødé ✓",
        model="smollm2",
        parent_id=u["id"],
        metadata={
            "citations": [{"source": "docs/duck.md", "location": {"page": 2}, "score": 0.8, "text": "t"}]
        },
    )
    store.add_metrics(a["id"], **_metrics())
    u2 = store.add_message(s["id"], "user", "And LanceDB?")
    store.add_message(s["id"], "assistant", "A vector", parent_id=u2["id"], status="interrupted")
    err = store.add_message(
        s["id"],
        "assistant",
        "",
        parent_id=u2["id"],
        status="error",
        metadata={"error": {"code": "x", "message": "boom"}},
    )
    store.add_metrics(err["id"], **_metrics(completion_tokens=0, finish_reason="cancelled"))
    store.update_session(s["id"], pinned=True)
    return s


def _normalised(doc: dict) -> dict:
    """An export without what an import legitimately changes: ids, export/import times."""
    doc = json.loads(json.dumps(doc))
    doc.pop("exported_at")
    for key in ("id", "updated_at"):
        doc["session"].pop(key)
    position = {m["id"]: i for i, m in enumerate(doc["messages"])}
    for m in doc["messages"]:
        m.pop("id")
        m["parent_id"] = position.get(m["parent_id"]) if m["parent_id"] is not None else None
    return doc


def test_export_json_import_round_trip(store):
    s = _conversation(store)
    first = json.loads(store.export_session(s["id"], "json"))
    assert first["format"] == "jupyter-chat-ext.session" and first["version"] == 2
    assert len(first["messages"]) == 5
    assert first["messages"][1]["metrics"]["tokens_per_s"] == 14.5
    imported = store.import_session(json.dumps(first))  # a JSON string
    assert imported["id"] != s["id"]
    assert (imported["message_count"], imported["prompt_tokens"], imported["completion_tokens"]) == (
        5,
        24,
        30,
    )
    second = json.loads(store.export_session(imported["id"], "json"))
    assert {m["id"] for m in second["messages"]}.isdisjoint({m["id"] for m in first["messages"]})
    assert _normalised(second) == _normalised(first)
    again = store.import_session(second)  # a dict
    assert _normalised(json.loads(store.export_session(again["id"]))) == _normalised(first)
    assert [m["content"] for m in store.list_messages(again["id"])] == [
        m["content"] for m in first["messages"]
    ]
    assert store.search_messages("embedded analytical", limit=10)[0]["session_id"] in {
        s["id"],
        imported["id"],
        again["id"],
    }
    assert len(store.search_messages("embedded analytical", limit=10)) == 3


def test_export_markdown_transcript(store):
    s = _conversation(store)
    md = store.export_session(s["id"], "markdown")
    assert md.startswith("# Round trip\n")
    assert "> Be exact." in md
    assert md.count("## User") == 2 and md.count("## Assistant") == 3
    assert "```sql\nSELECT 1;\n```" in md
    assert "ünïcødé ✓" in md
    assert "30 tokens · 14.5 tok/s" in md
    assert "_interrupted_" in md and "error: boom" in md
    assert "1. docs/duck.md" in md
    assert md.index("What is *DuckDB*") < md.index("An embedded") < md.index("And LanceDB?")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: "not json {",
        lambda d: [d],
        lambda d: {**d, "format": "other"},
        lambda d: {**d, "version": 99},
        lambda d: {**d, "session": "x"},
        lambda d: {**d, "messages": {}},
        lambda d: {**d, "messages": [{**d["messages"][0], "role": "tool"}]},
        lambda d: {**d, "messages": [{**d["messages"][0], "content": None}]},
        lambda d: {**d, "messages": [{**d["messages"][0], "status": "done"}]},
        lambda d: {**d, "messages": [{**d["messages"][0], "parent_id": 123456}]},
        lambda d: {**d, "messages": [{**d["messages"][0], "created_at": "yesterday"}]},
        lambda d: {**d, "messages": [{**d["messages"][0], "metrics": {"prompt_tokens": -1}}]},
        lambda d: {**d, "messages": [d["messages"][0], d["messages"][0]]},
        lambda d: {**d, "session": {**d["session"], "pinned": "yes"}},
        lambda d: {**d, "session": {**d["session"], "params": [1]}},
    ],
)
def test_import_rejects_invalid_documents(store, mutate):
    s = _conversation(store)
    doc = json.loads(store.export_session(s["id"]))
    with pytest.raises(InvalidInput):
        store.import_session(mutate(doc))
    assert store.count_sessions() == 1
    _, rows = store.query("SELECT count(*) FROM messages")
    assert rows == [(5,)]


# -- read-only SQL --------------------------------------------------------------------------------


def test_query_reads(store):
    s = _conversation(store)
    cols, rows = store.query(
        f"SELECT role, count(*) AS n FROM messages WHERE session_id = '{s['id']}' GROUP BY role ORDER BY role"
    )
    assert cols == ["role", "n"] and rows == [("assistant", 3), ("user", 2)]
    cols, rows = store.query("WITH x AS (SELECT 41 AS v) SELECT v + 1 AS answer FROM x")
    assert rows == [(42,)]
    assert "role" in [r[0] for r in store.query("DESCRIBE messages")[1]]
    assert "sessions" in [r[0] for r in store.query("SHOW TABLES")[1]]
    assert store.query("EXPLAIN SELECT * FROM sessions")[1]
    assert store.query("FROM sessions SELECT title")[1] == [("Round trip",)]
    assert len(store.query("SELECT * FROM range(100)", max_rows=7)[1]) == 7


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO sessions (id, created_at, updated_at) VALUES ('x', now(), now())",
        "UPDATE messages SET content = 'hacked'",
        "DELETE FROM messages",
        "CREATE TABLE t (a INT)",
        "DROP TABLE messages",
        "ALTER TABLE messages ADD COLUMN x INT",
        "ATTACH ':memory:' AS other",
        "COPY messages TO '/tmp/out.csv'",
        "INSTALL fts",
        "LOAD fts",
        "SET threads = 1",
        "CALL checkpoint()",
        "PRAGMA table_info('messages')",
        "CHECKPOINT",
        "SELECT 1; DELETE FROM messages",
        "EXPLAIN ANALYZE DELETE FROM messages",
        "WITH x AS (SELECT 1) INSERT INTO response_cache SELECT 'k', '{}', now() FROM x",
        "DELETE FROM messages RETURNING *",
        "",
        "SELEC 1",
        "SELECT * FROM no_such_table",
    ],
)
def test_query_refuses_writes_and_bad_sql(store, sql):
    s = _conversation(store)
    with pytest.raises(InvalidInput):
        store.query(sql)
    assert store.get_session(s["id"])["message_count"] == 5
    assert [m["content"] for m in store.list_messages(s["id"])][-1] == ""
    assert store.query("SELECT count(*) FROM response_cache")[1] == [(0,)]


def test_query_times_out(store):
    with pytest.raises(InvalidInput) as err:
        store.query("SELECT count(*) FROM range(10000000000) a", timeout_s=0.3)
    assert err.value.code == "query_timeout"
    assert store.query("SELECT 1")[1] == [(1,)]  # the connection is fine afterwards


# -- response cache -------------------------------------------------------------------------------


def test_response_cache(store):
    assert store.cache_get("k1") is None
    store.cache_put("k1", {"text": "hello", "metrics": {"n": 3}})
    assert store.cache_get("k1") == {"text": "hello", "metrics": {"n": 3}}
    store.cache_put("k1", {"text": "replaced"})
    assert store.cache_get("k1") == {"text": "replaced"}
    for bad_key in ("", None, 5, "x" * 2000):
        with pytest.raises(InvalidInput):
            store.cache_put(bad_key, {})
    with pytest.raises(InvalidInput):
        store.cache_put("k2", ["not", "a", "dict"])
    with pytest.raises(InvalidInput):
        store.cache_get(None)


# -- files, processes, threads --------------------------------------------------------------------


def test_memory_store_and_closed_store(tmp_path):
    mem = Store(":memory:")
    s = mem.create_session(title="in memory")
    assert mem.list_sessions()[0]["id"] == s["id"]
    mem.close()
    mem.close()  # idempotent
    with pytest.raises(Unavailable):
        mem.get_session(s["id"])


def test_second_process_gets_unavailable(settings):
    store = Store(settings.db_path)
    try:
        store.create_session(title="owned")
        proc = _run_python(
            f"""
            from jupyter_chat_ext.errors import ChatExtError
            from jupyter_chat_ext.store.store import Store
            try:
                Store({str(settings.db_path)!r})
            except ChatExtError as exc:
                print(exc.code, exc.status, exc.message)
            else:
                print("opened")
            """
        )
        assert proc.returncode == 0, proc.stderr
        code, status, message = proc.stdout.strip().split(" ", 2)
        assert (code, status) == ("store_locked", "503")
        assert "another process" in message and "Jupyter server" in message
    finally:
        store.close()
    # once the owner is gone the file opens again, with its data
    with Store(settings.db_path) as again:
        assert [s["title"] for s in again.list_sessions()] == ["owned"]


def test_each_write_is_durable_without_close(settings):
    proc = _run_python(
        f"""
        import os
        from jupyter_chat_ext.store.store import Store
        st = Store({str(settings.db_path)!r})
        s = st.create_session(title="crash")
        m = st.add_message(s["id"], "user", "survives a crash")
        st.add_metrics(m["id"], prompt_tokens=1, completion_tokens=2, ttft_s=0.1, tokens_per_s=1.0,
                       total_s=1.0, model="m", device="cpu", finish_reason="stop")
        print(s["id"], flush=True)
        os._exit(0)  # no close(), no checkpoint
        """
    )
    assert proc.returncode == 0, proc.stderr
    session_id = proc.stdout.strip()
    with Store(settings.db_path) as store:
        messages = store.list_messages(session_id)
        assert [m["content"] for m in messages] == ["survives a crash"]
        assert messages[0]["metrics"]["completion_tokens"] == 2
        assert store.search_messages("crash")[0]["message_id"] == messages[0]["id"]


def test_concurrent_writers_share_one_store(store):
    sessions = [store.create_session(title=f"s{i}") for i in range(4)]
    errors: list[BaseException] = []
    created: list[int] = []
    lock = threading.Lock()

    def work(session_id: str) -> None:
        try:
            for i in range(25):
                m = store.add_message(session_id, "user", f"threaded message {i}")
                store.add_metrics(m["id"], **_metrics(prompt_tokens=1, completion_tokens=1))
                store.list_messages(session_id, limit=5)
                store.list_sessions()
                with lock:
                    created.append(m["id"])
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s["id"],)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(created)) == 100
    for s in store.list_sessions():
        assert (s["message_count"], s["prompt_tokens"], s["completion_tokens"]) == (25, 25, 25)
        assert len(store.list_messages(s["id"])) == 25
