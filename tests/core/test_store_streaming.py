"""Streaming answers in the store: token counts, cheap checkpoints, one-transaction finish, and the
recovery of rows a crash left ``streaming`` (real DuckDB files, a real killed process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from jupyter_chat_ext.errors import InvalidInput, NotFound
from jupyter_chat_ext.store import schema
from jupyter_chat_ext.store.store import Store

REPO = Path(__file__).resolve().parents[2]

METRICS = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "ttft_s": 0.1,
    "tokens_per_s": 20.0,
    "total_s": 0.5,
    "model": "m",
    "device": "cpu",
    "finish_reason": "stop",
}


def test_tokens_are_stored_and_returned(store):
    s = store.create_session(title="t")
    m = store.add_message(s["id"], "user", "four words right here", tokens=5)
    assert m["tokens"] == 5
    assert store.get_message(m["id"])["tokens"] == 5
    unknown = store.add_message(s["id"], "user", "no count")
    assert unknown["tokens"] is None and store.list_messages(s["id"])[-1]["tokens"] is None
    for bad in (-1, 2**31, "5", 1.5, True):
        with pytest.raises(InvalidInput):
            store.add_message(s["id"], "user", "x", tokens=bad)
    assert store.get_session(s["id"])["message_count"] == 2


def test_checkpoint_then_finish(store):
    s = store.create_session(title="t")
    u = store.add_message(s["id"], "user", "tell me about herons", tokens=5)
    a = store.add_message(s["id"], "assistant", "", parent_id=u["id"], status="streaming")
    assert a["status"] == "streaming"
    store.checkpoint_message(a["id"], "Herons are", 3)
    store.checkpoint_message(a["id"], "Herons are wading birds", 5)
    got = store.get_message(a["id"])
    assert (got["content"], got["tokens"], got["status"]) == ("Herons are wading birds", 5, "streaming")
    done = store.finish_message(
        a["id"],
        content="Herons are wading birds.",
        status="complete",
        metadata={"finish_reason": "stop"},
        metrics=METRICS,
        tokens=6,
    )
    assert (done["content"], done["status"], done["tokens"]) == ("Herons are wading birds.", "complete", 6)
    assert done["metadata"] == {"finish_reason": "stop"} and done["metrics"]["completion_tokens"] == 7
    sess = store.get_session(s["id"])
    assert (sess["prompt_tokens"], sess["completion_tokens"]) == (11, 7)
    # the signature is written at finish: the final text is searchable
    assert [h["message_id"] for h in store.search_messages("wading")] == [a["id"]]
    # a late checkpoint does not overwrite the final text
    store.checkpoint_message(a["id"], "Herons", 1)
    assert store.get_message(a["id"])["content"] == "Herons are wading birds."
    with pytest.raises(NotFound):
        store.checkpoint_message(10**9, "x", 1)


def test_finish_is_one_transaction(store):
    s = store.create_session(title="t")
    a = store.add_message(s["id"], "assistant", "", status="streaming")
    store.checkpoint_message(a["id"], "partial text", 2)
    with pytest.raises(InvalidInput):  # bad metrics: nothing of the finish is written
        store.finish_message(
            a["id"], content="final", status="complete", metrics={**METRICS, "prompt_tokens": 10**30}
        )
    with pytest.raises(InvalidInput):
        store.finish_message(a["id"], content="final", status="done")
    got = store.get_message(a["id"])
    assert (got["content"], got["status"], got["metrics"]) == ("partial text", "streaming", None)
    store.finish_message(a["id"], content="final", status="error", metadata={"error": {"code": "x"}})
    assert store.get_message(a["id"])["status"] == "error"


def test_streaming_rows_become_interrupted_on_open_after_kill(settings):
    code = f"""
        import os
        from jupyter_chat_ext.store.store import Store
        st = Store({str(settings.db_path)!r})
        s = st.create_session(title="crash")
        u = st.add_message(s["id"], "user", "question before the crash")
        a = st.add_message(s["id"], "assistant", "", parent_id=u["id"], status="streaming",
                           metadata={{"rag": "docs"}})
        st.checkpoint_message(a["id"], "the partial answer about otters", 6)
        print(s["id"], a["id"], flush=True)
        os.kill(os.getpid(), 9)
        """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert proc.returncode == -9, proc.stderr
    session_id, message_id = proc.stdout.split()
    with Store(settings.db_path) as store:
        assert store.recovered_on_open == 1
        m = store.get_message(int(message_id))
        assert (m["status"], m["content"], m["tokens"]) == (
            "interrupted",
            "the partial answer about otters",
            6,
        )
        assert m["metadata"] == {"rag": "docs", "finish_reason": "crashed"}
        assert [h["message_id"] for h in store.search_messages("otters")] == [m["id"]]
        assert store.list_messages(session_id)[0]["content"] == "question before the crash"
    with Store(settings.db_path) as store:
        assert store.recovered_on_open == 0


def test_v2_file_gains_tokens_and_streaming(tmp_path):
    path = tmp_path / "v2.duckdb"
    con = duckdb.connect(str(path))
    assert schema.migrate(con, target=2) == [1, 2]
    con.execute(
        "INSERT INTO sessions (id, title, created_at, updated_at, message_count) "
        "VALUES ('b' || repeat('0', 31), 'v2 chat', now()::TIMESTAMP, now()::TIMESTAMP, 1)"
    )
    con.execute(
        "INSERT INTO messages (session_id, role, content, created_at) "
        "VALUES ('b' || repeat('0', 31), 'user', 'kept through v3', now()::TIMESTAMP)"
    )
    with pytest.raises(duckdb.ConstraintException):  # v2 does not know "streaming"
        con.execute(
            "INSERT INTO messages (session_id, role, content, status, created_at) "
            "VALUES ('x', 'user', 'y', 'streaming', now()::TIMESTAMP)"
        )
    con.close()
    with Store(path) as store:
        (old,) = store.list_messages("b" + "0" * 31)
        assert (old["id"], old["content"], old["tokens"]) == (1, "kept through v3", None)
        new = store.add_message("b" + "0" * 31, "assistant", "", status="streaming", tokens=0)
        assert new["id"] > 1 and store.get_message(new["id"])["status"] == "streaming"
        assert store.search_messages("kept")[0]["message_id"] == 1
