"""Schema versions: an older file is upgraded in place with its data; a newer one is refused untouched;
a failing step rolls back."""

from __future__ import annotations

import hashlib
from datetime import datetime

import duckdb
import pytest

from jupyter_chat_ext.errors import SchemaError
from jupyter_chat_ext.store import schema
from jupyter_chat_ext.store.store import Store


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_migrations_are_numbered_in_order():
    assert [m.version for m in schema.MIGRATIONS] == list(range(1, len(schema.MIGRATIONS) + 1))
    assert schema.MIGRATIONS[-1].version == schema.LATEST_VERSION


def test_fresh_store_records_every_version(store):
    _, rows = store.query("SELECT version FROM schema_version ORDER BY version")
    assert [r[0] for r in rows] == [m.version for m in schema.MIGRATIONS]


def test_v1_file_is_upgraded_with_data_kept(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    assert schema.migrate(con, target=1) == [1]
    now = datetime(2025, 5, 1, 12, 0, 0)
    con.execute(
        "INSERT INTO sessions (id, title, params, created_at, updated_at, message_count, prompt_tokens, "
        "completion_tokens) VALUES ('a' || repeat('0', 31), 'Old chat', '{\"seed\": 5}', ?, ?, 2, 9, 4)",
        [now, now],
    )
    con.execute(
        "INSERT INTO messages (session_id, role, content, status, metadata, created_at) VALUES "
        "('a' || repeat('0', 31), 'user', 'an archived question about walruses', 'complete', '{}', ?), "
        "('a' || repeat('0', 31), 'assistant', 'walruses are large', 'interrupted', '{\"k\": 1}', ?)",
        [now, now],
    )
    con.execute("INSERT INTO metrics VALUES (2, 9, 4, 0.5, 8.0, 1.0, 'm', 'cpu', 'stop', ?)", [now])
    assert schema.current_version(con) == 1
    con.close()

    with Store(path) as store:
        _, rows = store.query("SELECT version FROM schema_version ORDER BY version")
        # v3 (tokens, "streaming"), v4 (role "tool"), v5 (branches) since
        assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
        session_id = "a" + "0" * 31
        sess = store.get_session(session_id)
        assert (sess["title"], sess["params"], sess["message_count"], sess["prompt_tokens"]) == (
            "Old chat",
            {"seed": 5},
            2,
            9,
        )
        assert sess["created_at"] == "2025-05-01T12:00:00.000000+00:00"
        old = store.list_messages(session_id)
        assert [(m["id"], m["content"], m["status"]) for m in old] == [
            (1, "an archived question about walruses", "complete"),
            (2, "walruses are large", "interrupted"),
        ]
        assert old[1]["metrics"]["completion_tokens"] == 4 and old[1]["metadata"] == {"k": 1}
        # the new version's features work on the old rows: search signatures were built
        assert [h["message_id"] for h in store.search_messages("walrus")] == [2, 1]
        assert store.count_sessions(q="archived") == 1
        new = store.add_message(session_id, "user", "a new one")
        assert new["id"] == 3  # the sequence carried over
    with Store(path) as store:  # reopening an up-to-date file changes nothing
        assert len(store.list_messages("a" + "0" * 31)) == 3


def test_newer_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "future.duckdb"
    with Store(path) as store:
        store.create_session(title="from the future")
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (99, 'from a later release', now()::TIMESTAMP)")
    con.close()
    before = _sha(path)
    with pytest.raises(SchemaError) as err:
        Store(path)
    assert err.value.code == "schema_too_new"
    assert "99" in err.value.message and "upgrade" in err.value.message
    assert _sha(path) == before
    assert not path.with_name(path.name + ".wal").exists()


def test_failed_migration_rolls_back(tmp_path, monkeypatch):
    path = tmp_path / "chat.duckdb"
    with Store(path) as store:
        store.create_session(title="keep me")

    def broken(con):
        con.execute("CREATE TABLE half_done (x INT)")
        con.execute("ALTER TABLE sessions ADD COLUMN colour VARCHAR")
        raise RuntimeError("disk on fire")

    steps = [*schema.MIGRATIONS, schema.Migration(schema.LATEST_VERSION + 1, "broken step", broken)]
    monkeypatch.setattr(schema, "MIGRATIONS", steps)
    monkeypatch.setattr(schema, "LATEST_VERSION", steps[-1].version)
    with pytest.raises(SchemaError) as err:
        Store(path)
    assert err.value.code == "migration_failed" and "disk on fire" in err.value.message
    monkeypatch.undo()
    con = duckdb.connect(str(path), read_only=True)
    try:
        assert schema.current_version(con) == schema.LATEST_VERSION
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "half_done" not in tables
        columns = {r[0] for r in con.execute("DESCRIBE sessions").fetchall()}
        assert "colour" not in columns
    finally:
        con.close()
    with Store(path) as store:
        assert [s["title"] for s in store.list_sessions()] == ["keep me"]
