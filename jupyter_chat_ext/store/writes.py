"""The one place rows are inserted: sessions, messages (with their search signatures) and metrics.

``add_message`` writes one row and ``import_session`` twenty thousand through the same helpers.
Rows go in as one ``INSERT ... SELECT unnest(?), unnest(?), ...`` over column lists, so a batch
costs one statement per table whatever its size: measured here, 20k messages in ~0.4 s, where a
row-by-row import held the store lock for 47 s (``executemany`` is slower still, see TOOLCHAIN).
Callers hold the store lock and an open transaction; values are checked before they get here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from . import values as val
from .search import sig_column_names, signature
from .types import Message


@dataclass(frozen=True)
class NewMessage:
    """A checked message row (JSON maps already serialised) waiting for an id."""

    role: str
    content: str
    model: str | None
    params_json: str
    parent_id: int | None
    status: str
    metadata_json: str
    created_at: datetime
    tokens: int | None


def allocate_ids(con: duckdb.DuckDBPyConnection, n: int) -> list[int]:
    """``n`` fresh message ids, ascending (so ids keep the order of the rows they are given to)."""
    rows = con.execute(f"SELECT nextval('message_id_seq') FROM range({int(n)})").fetchall()
    return sorted(r[0] for r in rows)


def insert_session(
    con: duckdb.DuckDBPyConnection,
    session_id: str,
    *,
    title: str | None,
    model: str | None,
    system_prompt: str | None,
    params_json: str,
    pinned: bool,
    created_at: datetime,
    updated_at: datetime,
) -> None:
    con.execute(
        "INSERT INTO sessions (id, title, model, system_prompt, params, pinned, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [session_id, title, model, system_prompt, params_json, pinned, created_at, updated_at],
    )


def insert_search_rows(
    con: duckdb.DuckDBPyConnection,
    ids: Sequence[int],
    session_ids: Sequence[str],
    signatures: Sequence[Sequence[int]],
) -> None:
    """Signature rows of ``message_search`` (one per message id)."""
    if not ids:
        return
    columns = sig_column_names()
    unnests = ", ".join(
        ["unnest(?::BIGINT[])", "unnest(?::VARCHAR[])"] + ["unnest(?::BIGINT[])"] * len(columns)
    )
    params: list[Any] = [list(ids), list(session_ids)]
    params += [[sig[i] for sig in signatures] for i in range(len(columns))]
    con.execute(f"INSERT INTO message_search SELECT {unnests}", params)


def replace_search_row(con: duckdb.DuckDBPyConnection, message_id: int, session_id: str, text: str) -> None:
    con.execute("DELETE FROM message_search WHERE message_id = ?", [message_id])
    insert_search_rows(con, [message_id], [session_id], [signature(text)])


def insert_messages(
    con: duckdb.DuckDBPyConnection,
    session_id: str,
    ids: Sequence[int],
    rows: Sequence[NewMessage],
    signatures: Sequence[Sequence[int]],
    *,
    now: datetime,
) -> None:
    """Messages with the given ids, their search rows, and the session's count and ``updated_at``."""
    if not rows:
        return
    con.execute(
        "INSERT INTO messages (id, session_id, role, content, model, params, parent_id, status, metadata, "
        "created_at, tokens) SELECT unnest(?::BIGINT[]), ?, unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), unnest(?::VARCHAR[])::JSON, unnest(?::BIGINT[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[])::JSON, unnest(?::TIMESTAMP[]), unnest(?::INTEGER[])",
        [
            list(ids),
            session_id,
            [r.role for r in rows],
            [r.content for r in rows],
            [r.model for r in rows],
            [r.params_json for r in rows],
            [r.parent_id for r in rows],
            [r.status for r in rows],
            [r.metadata_json for r in rows],
            [r.created_at for r in rows],
            [r.tokens for r in rows],
        ],
    )
    insert_search_rows(con, ids, [session_id] * len(ids), signatures)
    con.execute(
        "UPDATE sessions SET updated_at = ?, message_count = message_count + ? WHERE id = ?",
        [now, len(rows), session_id],
    )


def upsert_metrics(
    con: duckdb.DuckDBPyConnection,
    session_id: str,
    message_ids: Sequence[int],
    metric_rows: Sequence[Sequence[Any]],
    *,
    replaced: tuple[int, int] = (0, 0),
) -> None:
    """Insert or replace metrics rows (checked values in ``values.METRIC_FIELDS`` order) and move the
    session's token sums by the difference (``replaced``: the token sums of rows being replaced)."""
    if not message_ids:
        return
    now = val.now()
    columns = list(zip(*metric_rows, strict=True))
    con.execute(
        "INSERT OR REPLACE INTO metrics (message_id, prompt_tokens, completion_tokens, ttft_s, "
        "tokens_per_s, total_s, model, device, finish_reason, created_at) "
        "SELECT unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::BIGINT[]), unnest(?::DOUBLE[]), "
        "unnest(?::DOUBLE[]), unnest(?::DOUBLE[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
        "unnest(?::VARCHAR[]), ?",
        [list(message_ids), *(list(c) for c in columns), now],
    )
    con.execute(
        "UPDATE sessions SET prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ? "
        "WHERE id = ?",
        [sum(columns[0]) - replaced[0], sum(columns[1]) - replaced[1], session_id],
    )


def replace_metrics(con: duckdb.DuckDBPyConnection, message: Message, values: Sequence[Any]) -> None:
    """Record (or replace) one message's metrics."""
    old = message["metrics"]
    replaced = (int(old["prompt_tokens"]), int(old["completion_tokens"])) if old else (0, 0)
    upsert_metrics(con, message["session_id"], [message["id"]], [values], replaced=replaced)
