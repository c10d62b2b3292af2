"""Rows to dicts: the column lists every read uses and the lookups by id.

Every function takes the connection (or cursor) to read on, so the same code serves the main
connection under the write lock and a reader cursor without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from ..errors import NotFound
from . import values as val
from .types import Message, Metrics, Session

SESSION_COLS = (
    "id, title, model, system_prompt, params, pinned, created_at, updated_at, "
    "message_count, prompt_tokens, completion_tokens"
)
MESSAGE_COLS = "id, session_id, role, content, model, params, parent_id, status, metadata, created_at, tokens"
METRIC_COLS = (
    "message_id, prompt_tokens, completion_tokens, ttft_s, tokens_per_s, total_s, model, device, "
    "finish_reason"
)


def in_ids(column: str, ids: Sequence[int]) -> str:
    """A filter on ``column`` for the id list bound as the parameter: ``= ANY`` is the quickest for
    a page of ids (point lookups) but scans the list per row, so long lists go through a join."""
    if len(ids) <= 256:
        return f"{column} = ANY(?::BIGINT[])"
    return f"{column} IN (SELECT unnest(?::BIGINT[]))"


def session(row: Sequence[Any]) -> Session:
    return {
        "id": row[0],
        "title": row[1],
        "model": row[2],
        "system_prompt": row[3],
        "params": val.load(row[4]),
        "pinned": bool(row[5]),
        "created_at": val.iso(row[6]) or "",
        "updated_at": val.iso(row[7]) or "",
        "message_count": int(row[8]),
        "prompt_tokens": int(row[9]),
        "completion_tokens": int(row[10]),
    }


def metrics(row: Sequence[Any] | None) -> Metrics | None:
    if row is None:
        return None
    return {
        "prompt_tokens": row[1],
        "completion_tokens": row[2],
        "ttft_s": row[3],
        "tokens_per_s": row[4],
        "total_s": row[5],
        "model": row[6],
        "device": row[7],
        "finish_reason": row[8],
    }


def message(row: Sequence[Any], metric: Metrics | None) -> Message:
    return {
        "id": row[0],
        "session_id": row[1],
        "role": row[2],
        "content": row[3],
        "model": row[4],
        "params": val.load(row[5]),
        "parent_id": row[6],
        "status": row[7],
        "metadata": val.load(row[8]),
        "created_at": val.iso(row[9]) or "",
        "tokens": row[10],
        "metrics": metric,
    }


def get_session(con: duckdb.DuckDBPyConnection, session_id: Any) -> Session:
    row = con.execute(
        f"SELECT {SESSION_COLS} FROM sessions WHERE id = ?", [val.check_session_id(session_id)]
    ).fetchone()
    if row is None:
        raise NotFound(f"no session {session_id!r}")
    return session(row)


def get_message(con: duckdb.DuckDBPyConnection, message_id: Any) -> Message:
    row = con.execute(
        f"SELECT {MESSAGE_COLS} FROM messages WHERE id = ?", [val.check_message_id(message_id)]
    ).fetchone()
    if row is None:
        raise NotFound(f"no message {message_id!r}")
    metric = con.execute(f"SELECT {METRIC_COLS} FROM metrics WHERE message_id = ?", [row[0]]).fetchone()
    return message(row, metrics(metric))


def messages_by_ids(con: duckdb.DuckDBPyConnection, ids: Sequence[int]) -> list[Message]:
    """Messages (with metrics) for ``ids``, ascending by id; point lookups on the primary keys."""
    if not ids:
        return []
    rows = con.execute(
        f"SELECT {MESSAGE_COLS} FROM messages WHERE {in_ids('id', ids)} ORDER BY id", [list(ids)]
    ).fetchall()
    found = {
        r[0]: metrics(r)
        for r in con.execute(
            f"SELECT {METRIC_COLS} FROM metrics WHERE {in_ids('message_id', ids)}", [list(ids)]
        ).fetchall()
    }
    return [message(r, found.get(r[0])) for r in rows]


def session_message_ids(con: duckdb.DuckDBPyConnection, session_id: str) -> list[int]:
    # equality on session_id alone, so DuckDB serves it from messages_session_idx
    rows = con.execute("SELECT id FROM messages WHERE session_id = ?", [session_id]).fetchall()
    return sorted(r[0] for r in rows)
