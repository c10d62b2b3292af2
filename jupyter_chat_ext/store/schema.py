"""The DuckDB schema as an ordered list of migrations.

Each migration runs inside one transaction together with the row that records it in
``schema_version``; a failure rolls the whole step back and raises :class:`SchemaError`.
Nothing is ever dropped silently: a migration that reshapes a table copies its rows.
A file whose version is newer than :data:`LATEST_VERSION` is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import duckdb

from ..errors import SchemaError
from .search import sig_column_names

#: roles allowed by schema v1-v3 (kept as they were: a migration replays history exactly)
_V1_ROLES = ("system", "user", "assistant")
#: v4 adds "tool": the result of a tool call (an agent turn), linked to the assistant row that called
ROLES = (*_V1_ROLES, "tool")
#: statuses allowed by schema v1/v2 (kept as they were: a migration replays history exactly)
_V1_STATUSES = ("complete", "interrupted", "error")
#: v3 adds "streaming": an answer being generated (checkpointed), see Store.checkpoint_message
STATUSES = (*_V1_STATUSES, "streaming")


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _v1_core(con: duckdb.DuckDBPyConnection) -> None:
    roles = ", ".join(f"'{r}'" for r in _V1_ROLES)
    statuses = ", ".join(f"'{s}'" for s in _V1_STATUSES)
    con.execute("CREATE SEQUENCE message_id_seq START 1")
    con.execute(
        """
        CREATE TABLE sessions (
            id VARCHAR PRIMARY KEY,
            title VARCHAR,
            model VARCHAR,
            system_prompt VARCHAR,
            params JSON NOT NULL DEFAULT '{}',
            pinned BOOLEAN NOT NULL DEFAULT false,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            message_count BIGINT NOT NULL DEFAULT 0,
            prompt_tokens BIGINT NOT NULL DEFAULT 0,
            completion_tokens BIGINT NOT NULL DEFAULT 0
        )"""
    )
    con.execute(
        f"""
        CREATE TABLE messages (
            id BIGINT PRIMARY KEY DEFAULT nextval('message_id_seq'),
            session_id VARCHAR NOT NULL,
            role VARCHAR NOT NULL CHECK (role IN ({roles})),
            content VARCHAR NOT NULL,
            model VARCHAR,
            params JSON NOT NULL DEFAULT '{{}}',
            parent_id BIGINT,
            status VARCHAR NOT NULL DEFAULT 'complete' CHECK (status IN ({statuses})),
            metadata JSON NOT NULL DEFAULT '{{}}',
            created_at TIMESTAMP NOT NULL
        )"""
    )
    con.execute(
        """
        CREATE TABLE metrics (
            message_id BIGINT PRIMARY KEY,
            prompt_tokens BIGINT NOT NULL,
            completion_tokens BIGINT NOT NULL,
            ttft_s DOUBLE,
            tokens_per_s DOUBLE,
            total_s DOUBLE,
            model VARCHAR,
            device VARCHAR,
            finish_reason VARCHAR,
            created_at TIMESTAMP NOT NULL
        )"""
    )
    con.execute(
        """
        CREATE TABLE response_cache (
            key VARCHAR PRIMARY KEY,
            value JSON NOT NULL,
            created_at TIMESTAMP NOT NULL
        )"""
    )


def _v2_search(con: duckdb.DuckDBPyConnection) -> None:
    # the last-N-messages-of-a-session lookup goes through this ART index (equality on session_id)
    con.execute("CREATE INDEX messages_session_idx ON messages (session_id)")
    create_message_search(con)
    # derived-data bookkeeping (e.g. which signature scheme built message_search)
    con.execute("CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    # rows of message_search are (re)built after migrating (see SignatureIndex.sync)


def create_message_search(con: duckdb.DuckDBPyConnection) -> None:
    """The search-signature table: derived data, dropped and rebuilt when the scheme changes."""
    sig_cols = ",\n            ".join(f"{c} BIGINT NOT NULL" for c in sig_column_names())
    con.execute(
        f"""
        CREATE TABLE message_search (
            message_id BIGINT NOT NULL,
            session_id VARCHAR NOT NULL,
            {sig_cols}
        )"""
    )


def _messages_sql(table: str, roles_allowed: tuple[str, ...]) -> str:
    """The messages table of v3 and later (v4 only widens the role check)."""
    roles = ", ".join(f"'{r}'" for r in roles_allowed)
    statuses = ", ".join(f"'{s}'" for s in STATUSES)
    return f"""
        CREATE TABLE {table} (
            id BIGINT PRIMARY KEY DEFAULT nextval('message_id_seq'),
            session_id VARCHAR NOT NULL,
            role VARCHAR NOT NULL CHECK (role IN ({roles})),
            content VARCHAR NOT NULL,
            model VARCHAR,
            params JSON NOT NULL DEFAULT '{{}}',
            parent_id BIGINT,
            status VARCHAR NOT NULL DEFAULT 'complete' CHECK (status IN ({statuses})),
            metadata JSON NOT NULL DEFAULT '{{}}',
            created_at TIMESTAMP NOT NULL,
            tokens INTEGER
        )"""


def _rebuild_messages(con: duckdb.DuckDBPyConnection, columns: str, roles_allowed: tuple[str, ...]) -> None:
    # DuckDB cannot alter a CHECK constraint, so the table is rebuilt: rows are copied aside, the
    # table re-created with the wider check (and any new column), and the rows copied back with
    # their ids (the sequence is untouched, so new ids continue after the old ones)
    con.execute("CREATE TEMP TABLE messages_old_copy AS SELECT * FROM messages")
    con.execute("DROP INDEX messages_session_idx")
    con.execute("DROP TABLE messages")
    con.execute(_messages_sql("messages", roles_allowed))
    con.execute(f"INSERT INTO messages ({columns}) SELECT {columns} FROM messages_old_copy ORDER BY id")
    con.execute("DROP TABLE messages_old_copy")
    con.execute("CREATE INDEX messages_session_idx ON messages (session_id)")


_V2_COLUMNS = "id, session_id, role, content, model, params, parent_id, status, metadata, created_at"


def _v3_tokens_streaming(con: duckdb.DuckDBPyConnection) -> None:
    # the wider status check and the new tokens column (v2 rows have no count: NULL)
    _rebuild_messages(con, _V2_COLUMNS, _V1_ROLES)


def _v4_tool_role(con: duckdb.DuckDBPyConnection) -> None:
    # agent turns store each tool result as a row of role "tool"; every column is kept as it was
    _rebuild_messages(con, f"{_V2_COLUMNS}, tokens", ROLES)


def _v5_branches(con: duckdb.DuckDBPyConnection) -> None:
    # conversation branches (store/branches.py): each user message links to the user message of
    # the turn before it; until now the thread was one list, so that is the previous one by id
    con.execute(
        """
        UPDATE messages SET parent_id = p.prev FROM (
            SELECT id, lag(id) OVER (PARTITION BY session_id ORDER BY id) AS prev
            FROM messages WHERE role = 'user'
        ) p
        WHERE messages.id = p.id AND messages.parent_id IS NULL"""
    )
    # the last user message of the branch shown (NULL: the newest one)
    con.execute("ALTER TABLE sessions ADD COLUMN head_id BIGINT")
    create_branches_view(con)


def create_branches_view(con: duckdb.DuckDBPyConnection) -> None:
    """``message_branches``: every user message with its place among its siblings (the edits of
    one turn), for the SQL door (``%chat sql``): branch i of n, and whether it is on the branch
    shown (recomputed on each query: a view holds no rows)."""
    con.execute(
        """
        CREATE OR REPLACE VIEW message_branches AS
        WITH RECURSIVE users AS (
            SELECT id, session_id, parent_id, content, created_at FROM messages WHERE role = 'user'
        ), heads AS (
            SELECT s.id AS session_id, coalesce(
                (SELECT u.id FROM users u WHERE u.id = s.head_id AND u.session_id = s.id),
                (SELECT max(u.id) FROM users u WHERE u.session_id = s.id)) AS head
            FROM sessions s
        ), shown(id, parent_id, depth) AS (
            SELECT u.id, u.parent_id, 0 FROM users u JOIN heads h ON u.id = h.head
            UNION ALL
            SELECT u.id, u.parent_id, shown.depth + 1 FROM users u JOIN shown ON u.id = shown.parent_id
            WHERE shown.depth < 100000
        )
        SELECT u.id AS message_id, u.session_id, u.parent_id,
            row_number() OVER (PARTITION BY u.session_id, u.parent_id ORDER BY u.id) AS branch,
            count(*) OVER (PARTITION BY u.session_id, u.parent_id) AS branches,
            u.id IN (SELECT id FROM shown) AS shown,
            u.content, u.created_at
        FROM users u"""
    )


MIGRATIONS: list[Migration] = [
    Migration(1, "sessions, messages, metrics, response_cache", _v1_core),
    Migration(2, "session index for message paging, message_search signatures, store_meta", _v2_search),
    Migration(3, "messages.tokens, status 'streaming' for checkpointed answers", _v3_tokens_streaming),
    Migration(4, "role 'tool' for the results of an agent's tool calls", _v4_tool_role),
    Migration(5, "branches: user messages link to the turn before them; sessions.head_id", _v5_branches),
]
LATEST_VERSION = MIGRATIONS[-1].version


def _table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
        [name],
    ).fetchone()
    return bool(row and row[0])


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version recorded in the file; 0 for a file without ``schema_version``."""
    if not _table_exists(con, "schema_version"):
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def check_not_newer(version: int, where: str) -> None:
    if version > LATEST_VERSION:
        raise SchemaError(
            f"{where} has schema version {version}, newer than this jupyter_chat_ext understands "
            f"({LATEST_VERSION}); upgrade the package to open it (the file was left untouched)",
            code="schema_too_new",
        )


def migrate(
    con: duckdb.DuckDBPyConnection, *, target: int | None = None, where: str = "the store"
) -> list[int]:
    """Apply the pending migrations up to ``target`` (default: all), each in a transaction.

    Returns the versions applied. Raises SchemaError for a newer file or a failed step.
    """
    target = LATEST_VERSION if target is None else target
    version = current_version(con)
    check_not_newer(version, where)
    applied: list[int] = []
    if not _table_exists(con, "schema_version"):
        con.execute(
            "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR NOT NULL, "
            "applied_at TIMESTAMP NOT NULL)"
        )
    for step in MIGRATIONS:
        if step.version <= version or step.version > target:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            step.apply(con)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)",
                [step.version, step.description, datetime.now(timezone.utc).replace(tzinfo=None)],
            )
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            raise SchemaError(
                f"migrating {where} to schema version {step.version} ({step.description}) failed: {exc}",
                code="migration_failed",
            ) from exc
        applied.append(step.version)
    return applied
