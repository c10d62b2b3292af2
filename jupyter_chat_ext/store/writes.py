"""The one place rows are inserted: sessions, messages (with their search signatures) and metrics.

``add_message`` writes one row and ``import_session`` twenty thousand through the same helpers.
Rows go in as one ``INSERT ... SELECT`` over an Arrow table, so a batch costs one statement per
table whatever its size (figures in bench/bench_store.py ``durability.import``), where a
row-by-row import held the store lock for 47 s (``executemany`` is slower still, see TOOLCHAIN).
Callers hold the store lock and an open transaction; values are checked before they get here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from . import values as val
from .search import sig_column_names, signature
from .types import Message

if TYPE_CHECKING:  # imported where rows are written: pyarrow holds ~25 MB resident, which a server
    import pyarrow as pa  # that has stored nothing yet should not pay (bench/bench_rss.py)


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


def _insert_arrow(con: duckdb.DuckDBPyConnection, table: str, columns: str, data: pa.Table) -> None:
    """``INSERT INTO table (columns) SELECT * FROM data``. Arrow columns cross into DuckDB as whole
    buffers; lists bound as ``unnest(?)`` parameters are converted value by value (20k messages:
    ~11 s that way, ~0.3 s through Arrow, measured here). Explicit ``register`` works under the
    lock-down (only implicit replacement scans of Python variables are switched off)."""
    con.register("_rows", data)
    try:
        con.execute(f"INSERT INTO {table} ({columns}) SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


#: rows per pa.array call: one call over a 100k-row import held the GIL for the whole column
#: (tens of ms each, nine columns), and /api/status waited behind it (bench/bench_import.py)
ARROW_CHUNK = 8192


def _array(values: Sequence[Any], type_: pa.DataType) -> pa.Array:
    """``pa.array(values, type_)`` built a chunk at a time (the GIL is let go between chunks)."""
    import pyarrow as pa

    if len(values) <= ARROW_CHUNK:
        return pa.array(values, type_)
    chunks = [pa.array(values[i : i + ARROW_CHUNK], type_) for i in range(0, len(values), ARROW_CHUNK)]
    return pa.concat_arrays(chunks)


def _signature_columns(signatures: Sequence[Sequence[int]]) -> list[pa.Array]:
    import pyarrow as pa

    return [_array([sig[i] for sig in signatures], pa.int64()) for i in range(len(sig_column_names()))]


def insert_search_rows(
    con: duckdb.DuckDBPyConnection,
    ids: Sequence[int],
    session_ids: Sequence[str],
    signatures: Sequence[Sequence[int]] | list[pa.Array],
) -> None:
    """Signature rows of ``message_search`` (one per message id); ``signatures`` per message, or
    already as SIG_COLUMNS Arrow columns."""
    import pyarrow as pa

    if not ids:
        return
    sig_arrays = (
        signatures if signatures and isinstance(signatures[0], pa.Array) else _signature_columns(signatures)
    )
    arrays = [pa.array(ids, pa.int64()), pa.array(session_ids, pa.string()), *sig_arrays]
    data = pa.Table.from_arrays(arrays, names=["message_id", "session_id", *sig_column_names()])
    _insert_arrow(con, "message_search", ", ".join(data.column_names), data)


def replace_search_row(con: duckdb.DuckDBPyConnection, message_id: int, session_id: str, text: str) -> None:
    con.execute("DELETE FROM message_search WHERE message_id = ?", [message_id])
    insert_search_rows(con, [message_id], [session_id], [signature(text)])


@dataclass(frozen=True)
class MessageBatch:
    """Messages of one session as Arrow columns, built before the store lock is taken; only the
    ids (and parent ids that point into the batch) are added under the lock."""

    session_id: str
    columns: pa.Table  # every messages column but id and parent_id
    parent_ids: list[int | None]  # ids of messages already stored
    signatures: list[pa.Array]


def message_batch(
    session_id: str, rows: Sequence[NewMessage], signatures: Sequence[Sequence[int]]
) -> MessageBatch:
    import pyarrow as pa

    columns = pa.table(
        {
            "session_id": _array([session_id] * len(rows), pa.string()),
            "role": _array([r.role for r in rows], pa.string()),
            "content": _array([r.content for r in rows], pa.string()),
            "model": _array([r.model for r in rows], pa.string()),
            "params": _array([r.params_json for r in rows], pa.string()),
            "status": _array([r.status for r in rows], pa.string()),
            "metadata": _array([r.metadata_json for r in rows], pa.string()),
            "created_at": _array([r.created_at for r in rows], pa.timestamp("us")),
            "tokens": _array([r.tokens for r in rows], pa.int32()),
        }
    )
    return MessageBatch(session_id, columns, [r.parent_id for r in rows], _signature_columns(signatures))


def insert_messages(
    con: duckdb.DuckDBPyConnection,
    batch: MessageBatch,
    ids: Sequence[int],
    *,
    now: datetime,
    parent_positions: Sequence[int | None] | None = None,
) -> None:
    """The batch's messages with the given ids, their search rows, and the session's count and
    ``updated_at``. ``parent_positions``: parents given as positions inside the batch (an import)."""
    import pyarrow as pa

    n = batch.columns.num_rows
    if not n:
        return
    parents = (
        batch.parent_ids
        if parent_positions is None
        else [None if pos is None else ids[pos] for pos in parent_positions]
    )
    data = batch.columns.add_column(0, "id", pa.array(ids, pa.int64()))
    data = data.append_column("parent_id", pa.array(parents, pa.int64()))
    _insert_arrow(con, "messages", ", ".join(data.column_names), data)
    insert_search_rows(con, ids, [batch.session_id] * n, batch.signatures)
    con.execute(
        "UPDATE sessions SET updated_at = ?, message_count = message_count + ? WHERE id = ?",
        [now, n, batch.session_id],
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
    import pyarrow as pa

    if not message_ids:
        return
    now = val.now()
    columns = list(zip(*metric_rows, strict=True))
    types = [
        pa.int64(),
        pa.int64(),
        pa.float64(),
        pa.float64(),
        pa.float64(),
        pa.string(),
        pa.string(),
        pa.string(),
    ]
    arrays = [pa.array(message_ids, pa.int64())]
    arrays += [pa.array(col, typ) for col, typ in zip(columns, types, strict=True)]
    arrays.append(pa.array([now] * len(message_ids), pa.timestamp("us")))
    names = ["message_id", *val.METRIC_FIELDS, "created_at"]
    con.register("_rows", pa.Table.from_arrays(arrays, names=names))
    try:  # INSERT OR REPLACE: a message's metrics are replaced when it is finished again
        con.execute(f"INSERT OR REPLACE INTO metrics ({', '.join(names)}) SELECT * FROM _rows")
    finally:
        con.unregister("_rows")
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
