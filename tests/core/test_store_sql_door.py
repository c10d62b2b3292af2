"""The SQL door is confined (issue 13): each attack of the issue, run against a real store file,
is refused with a message saying what was refused, and the store keeps working afterwards.
It also runs off the store lock (issue 12): writes go through while a long query runs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import duckdb
import pytest

from jupyter_chat_ext.errors import Conflict, InvalidInput
from jupyter_chat_ext.store.store import Store


def _seq_value(store: Store) -> int:
    # the next id the sequence hands out, seen through the API (a new message)
    s = store.create_session(title="probe")
    return store.add_message(s["id"], "user", "probe")["id"]


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    """Stand-ins for the files an attacker wants: a Jupyter runtime file with a token."""
    rt = tmp_path / "runtime"
    rt.mkdir()
    (rt / "jpserver-1234.json").write_text(json.dumps({"token": "secret-token", "url": "http://x"}))
    (rt / "notes.csv").write_text("a,b\n1,2\n")
    return rt


WRITE_CTE = (
    "WITH x AS (INSERT INTO messages(session_id,role,content,status,created_at) SELECT session_id,role,"
    "content,status,created_at FROM messages LIMIT 5 RETURNING id) SELECT list(id) FROM x"
)
ATTACKS = [
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_text('/etc/hostname')", "read_text"),
    ("SELECT * FROM read_blob('/proc/self/environ')", "read_blob"),
    ("SELECT content FROM read_text('/proc/self/environ')", "read_text"),
    ("SELECT * FROM read_csv('https://example.com/data.csv')", "read_csv"),
    ("SELECT * FROM 'https://example.com/data.parquet'", "not files"),
    ("SELECT * FROM read_parquet('s3://bucket/x.parquet')", "read_parquet"),
    ("SELECT * FROM glob('/etc/*')", "glob"),
    # writes hidden in a SELECT (issue 19: the CTE ran and moved message_id_seq 102 -> 107)
    (WRITE_CTE, "INSERT"),
    ("WITH x AS (UPDATE sessions SET title = title RETURNING id) SELECT count(*) FROM x", "UPDATE"),
    ("WITH x AS (DELETE FROM messages RETURNING id) SELECT count(*) FROM x", "DELETE"),
    ("SELECT * FROM (WITH x AS (DELETE FROM messages RETURNING id) SELECT * FROM x) y", "DELETE"),
    ("SELECT (WITH x AS (UPDATE sessions SET title = 't' RETURNING 1) SELECT count(*) FROM x)", "UPDATE"),
    (
        "SELECT 1 WHERE EXISTS (WITH x AS (INSERT INTO store_meta VALUES ('k', 'v') RETURNING 1) FROM x)",
        "INSERT",
    ),
    ("SELECT 1 UNION ALL (WITH x AS (DELETE FROM sessions RETURNING 1) SELECT * FROM x)", "DELETE"),
    ("EXPLAIN " + WRITE_CTE, "INSERT"),
    ("EXPLAIN ANALYZE " + WRITE_CTE, "INSERT"),
    (
        "WITH a AS (SELECT 1), b AS (WITH c AS (INSERT INTO store_meta VALUES ('k','v') RETURNING 1) "
        "FROM c) FROM b",
        "INSERT",
    ),
    # effects and what shows the server's files and settings
    ("SELECT * FROM checkpoint()", "checkpoint"),
    ("SELECT * FROM force_checkpoint()", "force_checkpoint"),
    ("CALL checkpoint()", "CALL"),
    ("CHECKPOINT", "CALL"),  # DuckDB parses CHECKPOINT as a CALL
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    ("SELECT current_setting('temp_directory')", "current_setting"),
    ("SELECT getenv('HOME')", "getenv"),
    ("SELECT * FROM duckdb_databases()", "duckdb_databases"),
    ("SELECT path FROM duckdb_databases", "duckdb_databases"),
    ("FROM pragma_database_list", "pragma_database_list"),
    ("SELECT * FROM pragma_database_list()", "pragma_database_list"),
    ("FROM pg_settings", "pg_settings"),
    ("FROM system.main.duckdb_tables", "duckdb_tables"),
    ("EXPORT DATABASE '/tmp/x'", "EXPORT"),
    ("IMPORT DATABASE '/tmp/x'", "PRAGMA"),  # parsed as a PRAGMA
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("DROP TABLE messages", "DROP"),
    ("ALTER TABLE messages ADD COLUMN x INT", "ALTER"),
    ("SELECT nextval('message_id_seq')", "nextval"),
    ("SELECT NextVal /* hidden */ ('message_id_seq') FROM range(3)", "nextval"),
    ("SELECT \"nextval\"('message_id_seq')", "nextval"),
    ("SELECT 'message_id_seq'.nextval()", "nextval"),
    ("SELECT setval('message_id_seq', 1)", "setval"),
    ("SELECT * FROM query('SELECT nextval(''message_id_seq'')')", "query"),
    ("SELECT * FROM query_table('messages')", "query_table"),
    ("SELECT json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", "json_execute_serialized_sql"),
    ("EXPLAIN SELECT nextval('message_id_seq')", "nextval"),
    ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH"),
    ("INSTALL httpfs", "LOAD"),  # DuckDB classifies INSTALL as a LOAD statement
    ("LOAD httpfs", "LOAD"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("SET enable_external_access = true", "SET"),
    ("COPY messages TO '/tmp/leak.csv'", "COPY"),
    # even listing extensions needs the extension directory: refused too
    ("SELECT * FROM duckdb_extensions() WHERE loaded AND extension_name = 'httpfs'", "duckdb_extensions"),
]


@pytest.mark.parametrize(("sql", "named"), ATTACKS)
def test_each_attack_is_refused_and_the_store_still_works(store, sql, named):
    s = store.create_session(title="kept")
    store.add_message(s["id"], "user", "hello there")
    before = _seq_value(store)
    with pytest.raises(InvalidInput) as err:
        store.query(sql)
    message = err.value.message
    assert err.value.status == 400
    assert named in message, message
    # nothing moved: the sequence continues where it was, the main connection writes and reads
    assert _seq_value(store) == before + 1
    m = store.add_message(s["id"], "assistant", "still writable after a refused query")
    assert store.get_message(m["id"])["content"].startswith("still writable")
    assert store.search_messages("writable")[0]["message_id"] == m["id"]
    assert store.query("SELECT count(*) FROM messages WHERE session_id = ?".replace("?", f"'{s['id']}'"))[
        1
    ] == [(2,)]


def test_the_lockdown_holds_without_the_statement_check(store):
    """The second wall alone: a raw cursor on the store's database (what the door runs on), with
    no read-only check in front, still cannot reach files, extensions or settings."""
    cur = store.con.cursor()
    try:
        for sql in (
            "SELECT * FROM read_text('/etc/hostname')",
            "COPY messages TO '/tmp/leak.csv'",
            "ATTACH '/tmp/other.duckdb' AS other",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET threads = 1",
        ):
            with pytest.raises(duckdb.Error):
                cur.execute(sql)
    finally:
        cur.close()
    s = store.create_session(title="after")
    assert store.add_message(s["id"], "user", "fine")["content"] == "fine"


def test_runtime_files_cannot_be_globbed_or_read(store, runtime_dir):
    for sql in (
        f"SELECT * FROM glob('{runtime_dir}/*.json')",
        f"SELECT * FROM read_json_auto('{runtime_dir}/jpserver-*.json')",
        f"SELECT * FROM read_text('{runtime_dir}/jpserver-1234.json')",
        f"SELECT * FROM '{runtime_dir}/notes.csv'",
    ):
        with pytest.raises(InvalidInput) as err:
            store.query(sql)
        assert "secret-token" not in err.value.message
        assert "refuses the table function" in err.value.message or "not files" in err.value.message


def test_the_door_sees_only_the_store(store):
    tables = {r[0] for r in store.query("SHOW TABLES")[1]}
    # the store's own tables (a migration may add more: SHOW TABLES lists the store's only)
    assert tables >= {
        "sessions",
        "messages",
        "metrics",
        "response_cache",
        "schema_version",
        "message_search",
        "store_meta",
    }
    databases = {r[0] for r in store.query("SHOW DATABASES")[1]}
    assert databases <= {"chat", "system", "temp", "memory"}
    # the settings are not readable through the door; the lock-down, seen on a raw cursor:
    cur = store.con.cursor()
    settings = dict(
        cur.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'autoinstall_known_extensions', 'autoload_known_extensions', 'allow_community_extensions', "
            "'lock_configuration')"
        ).fetchall()
    )
    cur.close()
    assert settings == {
        "enable_external_access": "false",
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
        "allow_community_extensions": "false",
        "lock_configuration": "true",
    }


def test_harmless_mentions_are_not_refused(store):
    # the refusal is by the parse tree: strings, comments and column names pass
    assert store.query("SELECT 'nextval(1)' AS query, 2 AS setval")[1] == [("nextval(1)", 2)]
    assert store.query("SELECT 'é€ nextval' AS t -- nextval('x')")[1] == [("é€ nextval",)]
    assert store.query("SELECT 'INSERT INTO messages' AS sql, 'checkpoint()' AS c")[1] == [
        ("INSERT INTO messages", "checkpoint()")
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT role, count(*) FROM messages GROUP BY role",
        "WITH x AS (SELECT id FROM messages) SELECT count(*) FROM x",
        "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT max(n) FROM t",
        "FROM messages m JOIN sessions s ON m.session_id = s.id SELECT count(*)",
        "SELECT * FROM range(3)",
        "SELECT list_transform([1, 2], lambda x: x + 1)",
        "DESCRIBE messages",
        "SUMMARIZE messages",
        "SHOW TABLES",
        "SELECT table_name FROM duckdb_tables()",
        "SELECT * FROM pragma_table_info('messages')",
        "EXPLAIN SELECT count(*) FROM messages",
        "VALUES (1), (2)",
    ],
)
def test_reading_queries_still_run(store, sql):
    s = store.create_session(title="read")
    store.add_message(s["id"], "user", "hello")
    columns, _ = store.query(sql)
    assert columns


def test_lone_surrogate_in_sql_is_a_clear_400(store):
    with pytest.raises(InvalidInput) as err:
        store.query("SELECT '\ud800'")
    assert "lone surrogate" in err.value.message


def test_a_long_query_does_not_hold_the_lock_writes_need(store):
    s = store.create_session(title="busy")
    outcome: dict[str, object] = {}

    def slow() -> None:
        try:
            store.query("SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3", timeout_s=300)
        except InvalidInput as exc:
            outcome["code"] = exc.code

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        written = [store.add_message(s["id"], "user", f"written while the query runs {i}") for i in range(5)]
        listed = store.list_messages(s["id"])
        # the query (minutes of work) is still running while all of that went through
        assert thread.is_alive()
        assert [m["id"] for m in listed] == [m["id"] for m in written]
        exported = json.loads(store.export_session(s["id"]))
        assert len(exported["messages"]) == 5
    finally:
        store.close()  # interrupts readers
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert outcome == {"code": "query_timeout"}


def test_a_long_query_never_turns_a_delete_into_a_500(store):
    """Issue 19: a write held open in a CTE made DELETE answer 500 (TransactionException). The
    door cannot write now, so a long read holds no row lock; deletes go through while it runs."""
    s = store.create_session(title="to delete")
    m = store.add_message(s["id"], "user", "bye")
    done = threading.Event()

    def slow() -> None:
        try:
            store.query(
                f"SELECT count(*) FROM sessions, range(1000000000000) WHERE id = '{s['id']}'", timeout_s=60
            )
        except InvalidInput:
            pass
        finally:
            done.set()

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        store.delete_message(m["id"])
        store.delete_session(s["id"])
        assert not done.is_set()  # the query was running all along
    finally:
        store.close()
        thread.join(timeout=60)


def test_a_write_conflict_is_a_409_not_a_500(store):
    """A transaction that holds a row (here a raw cursor: the door cannot) makes a delete of it
    conflict; the store answers 409 ``write_conflict`` and works again once the other ends."""
    s = store.create_session(title="held")
    other = store.con.cursor()
    other.execute("BEGIN TRANSACTION")
    other.execute("DELETE FROM sessions WHERE id = ?", [s["id"]])
    try:
        with pytest.raises(Conflict) as err:
            store.delete_session(s["id"])
        assert err.value.status == 409 and err.value.code == "write_conflict"
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.delete_session(s["id"])
