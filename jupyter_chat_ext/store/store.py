"""The chat history store: one DuckDB file, one connection, one lock.

See docs/architecture.md (Store) for the contract. Every public method takes the lock, so the
server may call it from several threads; each call commits on its own (a message is durable as
soon as ``add_message`` returns). One process owns the file read-write: a second one gets
:class:`Unavailable`.

Layout and performance notes (bench/bench_store.py, 1M messages / 10k sessions, a shared 2-core
box: last 50 messages ~5-7 ms, search_messages ~10-15 ms, list_sessions(q) ~55-80 ms p50):

- ``messages.id`` comes from a sequence, so ``before=`` paging is ``id < before``. The newest N
  messages of a session are found with an ART index on ``session_id`` (an equality lookup, the
  only form DuckDB serves from an index), then fetched by primary key.
- ``sessions`` keeps ``message_count`` / ``prompt_tokens`` / ``completion_tokens`` up to date in
  the same transaction as each write, so listing sessions never aggregates the message table.
- search: see :mod:`.search` (signature prefilter in ``message_search`` + exact check).
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import InvalidInput, NotFound, SchemaError, Unavailable
from . import export as export_mod
from . import schema
from . import values as val
from .readonly_sql import check_read_only
from .search import (
    BITS_PER_FEATURE,
    SIG_BITS,
    SIGNATURE_VERSION,
    Matcher,
    mask_condition,
    query_mask,
    query_words,
    sig_column_names,
    signature,
)

Session = dict[str, Any]
Message = dict[str, Any]

MAX_LIST_LIMIT = 1000
MAX_CACHE_KEY_CHARS = 1024
#: an ART index scan is used while a lookup yields at most this many rows (DuckDB's default: 2048)
INDEX_SCAN_MAX_COUNT = 65536
#: session search fetches all candidate ids at once below this many candidate messages
_ALL_CANDIDATES_MAX = 100_000
_SIG_META_KEY = "search_signature"
_SIG_META_VALUE = f"v{SIGNATURE_VERSION}/{SIG_BITS}bits/{json.dumps(BITS_PER_FEATURE, sort_keys=True)}"
_UNSET: Any = object()

_SESSION_COLS = (
    "id, title, model, system_prompt, params, pinned, created_at, updated_at, "
    "message_count, prompt_tokens, completion_tokens"
)
_MESSAGE_COLS = (
    "id, session_id, role, content, model, params, parent_id, status, metadata, created_at, tokens"
)
_METRIC_COLS = (
    "message_id, prompt_tokens, completion_tokens, ttft_s, tokens_per_s, total_s, model, device, "
    "finish_reason"
)


def _in_ids(column: str, ids: Sequence[int]) -> str:
    """A filter on ``column`` for the id list bound as the parameter: ``= ANY`` is the quickest for
    a page of ids (point lookups) but scans the list per row, so long lists go through a join."""
    if len(ids) <= 256:
        return f"{column} = ANY(?::BIGINT[])"
    return f"{column} IN (SELECT unnest(?::BIGINT[]))"


@dataclass
class _SessionSearch:
    """Candidates and verdicts of one session search (valid while ``key`` = (words, writes) holds)."""

    key: tuple[Any, ...]
    matcher: Matcher
    source: str
    params: list[Any]
    newest: dict[str, tuple[int, int]]
    ordered: list[tuple[str, str | None]]
    #: every candidate session's candidates, newest first (loaded when first needed, if few)
    lists: dict[str, list[int]] | None = None
    verdict: dict[str, bool] = field(default_factory=dict)


class Store:
    """Sessions, messages, metrics and the response cache in one DuckDB file."""

    def __init__(self, path: str | Path) -> None:
        self.path: str | Path = path if str(path) == ":memory:" else Path(path).expanduser()
        self._lock = threading.RLock()
        self._writes = 0  # bumped by every write; keys the session-search cache
        self._search_cache: _SessionSearch | None = None
        self._order_cache: tuple[int, list[tuple[str, str | None]]] | None = None
        self._con: duckdb.DuckDBPyConnection | None = self._connect()
        try:
            schema.migrate(self._con, where=str(self.path))
            self._con.execute(f"SET index_scan_max_count = {INDEX_SCAN_MAX_COUNT}")
            self.recovered_on_open = self._recover_streaming()
            self._sync_search()
        except BaseException:
            self._con.close()
            self._con = None
            raise

    # -- connection ----------------------------------------------------------------------------
    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.path == ":memory:":
            return duckdb.connect(":memory:")
        assert isinstance(self.path, Path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._refuse_newer_file()
        try:
            return duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise Unavailable(
                    f"the chat store {self.path} is in use by another process (normally the Jupyter "
                    "server, which owns it); talk to that process over HTTP instead of opening the "
                    f"file. DuckDB said: {exc}",
                    code="store_locked",
                ) from exc
            raise SchemaError(
                f"cannot open the chat store {self.path}: {exc}", code="store_unreadable"
            ) from exc
        except duckdb.Error as exc:
            raise SchemaError(
                f"cannot open the chat store {self.path}: {exc}", code="store_unreadable"
            ) from exc

    def _refuse_newer_file(self) -> None:
        """Check the version through a read-only connection, so a newer file is never written to."""
        try:
            probe = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error:
            return  # locked or unreadable: the read-write open below reports it precisely
        try:
            schema.check_not_newer(schema.current_version(probe), str(self.path))
        finally:
            probe.close()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise Unavailable("the chat store is closed", code="store_closed")
        return self._con

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                try:
                    self._con.close()
                finally:
                    self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One transaction under the lock (callers hold the lock already)."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        self._writes += 1

    def _one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.con.execute(sql, list(params)).fetchone()

    # -- rows -> dicts -------------------------------------------------------------------------
    @staticmethod
    def _session(row: Sequence[Any]) -> Session:
        return {
            "id": row[0],
            "title": row[1],
            "model": row[2],
            "system_prompt": row[3],
            "params": val.load(row[4]),
            "pinned": bool(row[5]),
            "created_at": val.iso(row[6]),
            "updated_at": val.iso(row[7]),
            "message_count": int(row[8]),
            "prompt_tokens": int(row[9]),
            "completion_tokens": int(row[10]),
        }

    @staticmethod
    def _metrics(row: Sequence[Any] | None) -> dict[str, Any] | None:
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

    @staticmethod
    def _message(row: Sequence[Any], metrics: dict[str, Any] | None) -> Message:
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
            "created_at": val.iso(row[9]),
            "tokens": row[10],
            "metrics": metrics,
        }

    def _get_session(self, session_id: Any) -> Session:
        row = self._one(
            f"SELECT {_SESSION_COLS} FROM sessions WHERE id = ?", [val.check_session_id(session_id)]
        )
        if row is None:
            raise NotFound(f"no session {session_id!r}")
        return self._session(row)

    def _messages_by_ids(self, ids: Sequence[int]) -> list[Message]:
        """Messages (with metrics) for ``ids``, ascending by id; point lookups on the primary keys."""
        if not ids:
            return []
        rows = self.con.execute(
            f"SELECT {_MESSAGE_COLS} FROM messages WHERE {_in_ids('id', ids)} ORDER BY id",
            [list(ids)],
        ).fetchall()
        metrics = {
            r[0]: self._metrics(r)
            for r in self.con.execute(
                f"SELECT {_METRIC_COLS} FROM metrics WHERE {_in_ids('message_id', ids)}",
                [list(ids)],
            ).fetchall()
        }
        return [self._message(r, metrics.get(r[0])) for r in rows]

    def _get_message(self, message_id: Any) -> Message:
        row = self._one(
            f"SELECT {_MESSAGE_COLS} FROM messages WHERE id = ?", [val.check_message_id(message_id)]
        )
        if row is None:
            raise NotFound(f"no message {message_id!r}")
        metrics = self._one(f"SELECT {_METRIC_COLS} FROM metrics WHERE message_id = ?", [row[0]])
        return self._message(row, self._metrics(metrics))

    def _session_message_ids(self, session_id: str) -> list[int]:
        # equality on session_id alone, so DuckDB serves it from messages_session_idx
        rows = self.con.execute("SELECT id FROM messages WHERE session_id = ?", [session_id]).fetchall()
        return sorted(r[0] for r in rows)

    # -- sessions ------------------------------------------------------------------------------
    def create_session(
        self,
        title: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Session:
        title = val.check_title(title)
        model = val.check_name(model, "model")
        system_prompt = val.check_str(system_prompt, "system_prompt")
        params_json = val.dump(params, "params")
        now = val.now()
        session_id = uuid.uuid4().hex
        with self._lock, self._tx() as con:
            con.execute(
                "INSERT INTO sessions (id, title, model, system_prompt, params, pinned, created_at, "
                "updated_at) "
                "VALUES (?, ?, ?, ?, ?, false, ?, ?)",
                [session_id, title, model, system_prompt, params_json, now, now],
            )
        with self._lock:
            return self._get_session(session_id)

    def get_session(self, session_id: str) -> Session:
        with self._lock:
            return self._get_session(session_id)

    def _check_page(self, limit: Any, offset: Any) -> tuple[int, int]:
        return (
            val.check_int(limit, "limit", minimum=1, maximum=MAX_LIST_LIMIT),
            val.check_int(offset, "offset", minimum=0),
        )

    def list_sessions(self, q: str | None = None, limit: int = 50, offset: int = 0) -> list[Session]:
        """Pinned first, then most recently updated; ``q`` matches titles and message text."""
        limit, offset = self._check_page(limit, offset)
        order = "ORDER BY pinned DESC, updated_at DESC, id LIMIT ? OFFSET ?"
        with self._lock:
            if q is None or (isinstance(q, str) and not q.strip()):
                rows = self.con.execute(f"SELECT {_SESSION_COLS} FROM sessions {order}", [limit, offset])
                return [self._session(r) for r in rows.fetchall()]
            page = self._matching_session_ids(q, need=offset + limit)[offset : offset + limit]
            if not page:
                return []
            rows = self.con.execute(
                f"SELECT {_SESSION_COLS} FROM sessions WHERE id IN (SELECT unnest(?::VARCHAR[]))", [page]
            ).fetchall()
            by_id = {r[0]: self._session(r) for r in rows}
            return [by_id[sid] for sid in page if sid in by_id]

    def count_sessions(self, q: str | None = None) -> int:
        with self._lock:
            if q is None or (isinstance(q, str) and not q.strip()):
                row = self._one("SELECT count(*) FROM sessions")
                return int(row[0]) if row else 0
            return len(self._matching_session_ids(q))

    def update_session(
        self,
        session_id: str,
        *,
        title: Any = _UNSET,
        model: Any = _UNSET,
        system_prompt: Any = _UNSET,
        params: Any = _UNSET,
        pinned: Any = _UNSET,
    ) -> Session:
        sets: list[str] = []
        values: list[Any] = []
        if title is not _UNSET:
            sets.append("title = ?")
            values.append(val.check_title(title))
        if model is not _UNSET:
            sets.append("model = ?")
            values.append(val.check_name(model, "model"))
        if system_prompt is not _UNSET:
            sets.append("system_prompt = ?")
            values.append(val.check_str(system_prompt, "system_prompt"))
        if params is not _UNSET:
            sets.append("params = ?")
            values.append(val.dump(params, "params"))
        if pinned is not _UNSET:
            if not isinstance(pinned, bool):
                raise InvalidInput("pinned must be true or false")
            sets.append("pinned = ?")
            values.append(pinned)
        if sets and sets != ["pinned = ?"]:  # pinning alone does not count as an edit
            sets.append("updated_at = ?")
            values.append(val.now())
        with self._lock:
            self._get_session(session_id)
            if sets:
                with self._tx() as con:
                    con.execute(f"UPDATE sessions SET {', '.join(sets)} WHERE id = ?", [*values, session_id])
            return self._get_session(session_id)

    def delete_session(self, session_id: str) -> None:
        with self._lock:
            self._get_session(session_id)
            ids = self._session_message_ids(session_id)
            with self._tx() as con:
                if ids:
                    con.execute("DELETE FROM metrics WHERE message_id IN (SELECT unnest(?::BIGINT[]))", [ids])
                con.execute("DELETE FROM message_search WHERE session_id = ?", [session_id])
                con.execute("DELETE FROM messages WHERE session_id = ?", [session_id])
                con.execute("DELETE FROM sessions WHERE id = ?", [session_id])

    # -- messages ------------------------------------------------------------------------------
    def _insert_search_row(
        self, con: duckdb.DuckDBPyConnection, message_id: int, session_id: str, text: str
    ) -> None:
        sig = signature(text)
        marks = ", ".join("?" * (len(sig) + 2))
        con.execute(f"INSERT INTO message_search VALUES ({marks})", [message_id, session_id, *sig])

    def add_message(
        self,
        session_id: str,
        role: str,
        content: str,
        *,
        model: str | None = None,
        params: dict[str, Any] | None = None,
        parent_id: int | None = None,
        status: str = "complete",
        metadata: dict[str, Any] | None = None,
        tokens: int | None = None,
    ) -> Message:
        role = val.check_role(role)
        tokens = val.check_tokens(tokens)
        content = val.check_str(content, "content", allow_none=False)
        model = val.check_name(model, "model")
        params_json = val.dump(params, "params")
        status = val.check_status(status)
        metadata_json = val.dump(metadata, "metadata")
        now = val.now()
        with self._lock:
            self._get_session(session_id)
            if parent_id is not None:
                parent = self._get_message(parent_id)
                if parent["session_id"] != session_id:
                    raise InvalidInput(f"parent message {parent_id} belongs to another session")
            with self._tx() as con:
                row = con.execute(
                    "INSERT INTO messages (session_id, role, content, model, params, parent_id, status, "
                    "metadata, created_at, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [
                        session_id,
                        role,
                        content,
                        model,
                        params_json,
                        parent_id,
                        status,
                        metadata_json,
                        now,
                        tokens,
                    ],
                ).fetchone()
                assert row is not None
                message_id = int(row[0])
                self._insert_search_row(con, message_id, session_id, content)
                con.execute(
                    "UPDATE sessions SET updated_at = ?, message_count = message_count + 1 WHERE id = ?",
                    [now, session_id],
                )
        return {
            "id": message_id,
            "session_id": session_id,
            "role": role,
            "content": content,
            "model": model,
            "params": json.loads(params_json),
            "parent_id": parent_id,
            "status": status,
            "metadata": json.loads(metadata_json),
            "created_at": val.iso(now),
            "tokens": tokens,
            "metrics": None,
        }

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        sets: list[str] = []
        values: list[Any] = []
        if content is not None:
            sets.append("content = ?")
            values.append(val.check_str(content, "content"))
        if status is not None:
            sets.append("status = ?")
            values.append(val.check_status(status))
        if metadata is not None:
            sets.append("metadata = ?")
            values.append(val.dump(metadata, "metadata"))
        with self._lock:
            current = self._get_message(message_id)
            if not sets:
                return current
            with self._tx() as con:
                con.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", [*values, message_id])
                if content is not None and content != current["content"]:
                    con.execute("DELETE FROM message_search WHERE message_id = ?", [message_id])
                    self._insert_search_row(con, message_id, current["session_id"], content)
                con.execute(
                    "UPDATE sessions SET updated_at = ? WHERE id = ?", [val.now(), current["session_id"]]
                )
            return self._get_message(message_id)

    def get_message(self, message_id: int) -> Message:
        with self._lock:
            return self._get_message(message_id)

    def list_messages(self, session_id: str, before: int | None = None, limit: int = 100) -> list[Message]:
        """The ``limit`` newest messages with ``id < before`` (all when None), oldest first."""
        limit = val.check_int(limit, "limit", minimum=1, maximum=MAX_LIST_LIMIT)
        if before is not None:
            before = val.check_int(before, "before", minimum=0)
        with self._lock:
            ids = self._session_message_ids(val.check_session_id(session_id))
            if not ids:
                self._get_session(session_id)  # NotFound for an unknown id; else simply empty
            if before is not None:
                ids = [i for i in ids if i < before]
            return self._messages_by_ids(ids[-limit:])

    def _delete_messages(self, con: duckdb.DuckDBPyConnection, session_id: str, ids: list[int]) -> None:
        row = con.execute(
            "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0) FROM metrics "
            "WHERE message_id IN (SELECT unnest(?::BIGINT[]))",
            [ids],
        ).fetchone()
        prompt, completion = (int(row[0]), int(row[1])) if row else (0, 0)
        for table, col in (("metrics", "message_id"), ("message_search", "message_id"), ("messages", "id")):
            con.execute(f"DELETE FROM {table} WHERE {col} IN (SELECT unnest(?::BIGINT[]))", [ids])
        con.execute(
            "UPDATE messages SET parent_id = NULL WHERE parent_id IN (SELECT unnest(?::BIGINT[]))", [ids]
        )
        con.execute(
            "UPDATE sessions SET message_count = message_count - ?, prompt_tokens = prompt_tokens - ?, "
            "completion_tokens = completion_tokens - ?, updated_at = ? WHERE id = ?",
            [len(ids), prompt, completion, val.now(), session_id],
        )

    def delete_message(self, message_id: int) -> None:
        with self._lock:
            message = self._get_message(message_id)
            with self._tx() as con:
                self._delete_messages(con, message["session_id"], [message["id"]])

    def delete_messages_after(self, session_id: str, message_id: int) -> int:
        """Delete every message of the session newer than ``message_id``; return how many."""
        with self._lock:
            self._get_session(session_id)
            message = self._get_message(message_id)
            if message["session_id"] != session_id:
                raise NotFound(f"message {message_id} is not in session {session_id}")
            ids = [i for i in self._session_message_ids(session_id) if i > message_id]
            if ids:
                with self._tx() as con:
                    self._delete_messages(con, session_id, ids)
            return len(ids)

    def add_metrics(
        self,
        message_id: int,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        ttft_s: float | None,
        tokens_per_s: float | None,
        total_s: float | None,
        model: str | None,
        device: str | None,
        finish_reason: str | None,
    ) -> None:
        """Record (or replace) the metrics of one generation; the session's token sums follow."""
        values = val.check_metrics(
            {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "ttft_s": ttft_s,
                "tokens_per_s": tokens_per_s,
                "total_s": total_s,
                "model": model,
                "device": device,
                "finish_reason": finish_reason,
            }
        )
        with self._lock:
            message = self._get_message(message_id)
            with self._tx() as con:
                self._write_metrics(con, message, values)

    @staticmethod
    def _write_metrics(con: duckdb.DuckDBPyConnection, message: Message, values: list[Any]) -> None:
        """Insert or replace a message's metrics row (checked values in METRIC_FIELDS order) and move
        the session's token sums by the difference."""
        old = message["metrics"] or {"prompt_tokens": 0, "completion_tokens": 0}
        con.execute(
            "INSERT OR REPLACE INTO metrics (message_id, prompt_tokens, completion_tokens, ttft_s, "
            "tokens_per_s, total_s, model, device, finish_reason, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [message["id"], *values, val.now()],
        )
        con.execute(
            "UPDATE sessions SET prompt_tokens = prompt_tokens + ?, "
            "completion_tokens = completion_tokens + ? WHERE id = ?",
            [
                values[0] - int(old["prompt_tokens"]),
                values[1] - int(old["completion_tokens"]),
                message["session_id"],
            ],
        )

    # -- streaming answers ---------------------------------------------------------------------
    def checkpoint_message(self, message_id: int, content: str, completion_tokens: int) -> None:
        """Save the text streamed so far of a ``streaming`` answer: one UPDATE, nothing else.

        Called about once a second while an answer streams, so it skips everything ``finish_message``
        does once (search signature, session counters, metrics). A message that is no longer
        streaming is left alone (the final write wins over a late checkpoint); NotFound if unknown.
        """
        message_id = val.check_message_id(message_id)
        content = val.check_str(content, "content", allow_none=False)
        completion_tokens = val.check_tokens(completion_tokens, "completion_tokens")
        with self._lock:
            row = self._one(
                "UPDATE messages SET content = ?, tokens = ? WHERE id = ? AND status = 'streaming'",
                [content, completion_tokens, message_id],
            )
            if row is not None and row[0] == 0:
                self._get_message(message_id)  # NotFound for an unknown id; else not streaming

    def finish_message(
        self,
        message_id: int,
        *,
        content: str,
        status: str,
        metadata: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        tokens: int | None = None,
    ) -> Message:
        """Write the final state of an answer in one transaction: content, status, metadata, token
        count, its search signature, its metrics row and the session's counters."""
        content = val.check_str(content, "content", allow_none=False)
        status = val.check_status(status)
        metadata_json = val.dump(metadata, "metadata")
        tokens = val.check_tokens(tokens)
        metric_values = None if metrics is None else val.check_metrics(metrics)
        with self._lock:
            current = self._get_message(message_id)
            with self._tx() as con:
                con.execute(
                    "UPDATE messages SET content = ?, status = ?, metadata = ?, tokens = ? WHERE id = ?",
                    [content, status, metadata_json, tokens, current["id"]],
                )
                con.execute("DELETE FROM message_search WHERE message_id = ?", [current["id"]])
                self._insert_search_row(con, current["id"], current["session_id"], content)
                if metric_values is not None:
                    self._write_metrics(con, current, metric_values)
                con.execute(
                    "UPDATE sessions SET updated_at = ? WHERE id = ?", [val.now(), current["session_id"]]
                )
            return self._get_message(message_id)

    def _recover_streaming(self) -> int:
        """Rows a crash left ``streaming`` become ``interrupted`` (finish_reason "crashed"), keeping
        the last checkpointed text; their search signatures are rebuilt by ``_sync_search``."""
        rows = self.con.execute("SELECT id, metadata FROM messages WHERE status = 'streaming'").fetchall()
        if not rows:
            return 0
        with self._lock, self._tx() as con:
            for mid, meta in rows:
                metadata = {**val.load(meta), "finish_reason": "crashed"}
                con.execute(
                    "UPDATE messages SET status = 'interrupted', metadata = ? WHERE id = ?",
                    [val.dump(metadata, "metadata"), mid],
                )
            con.execute(
                "DELETE FROM message_search WHERE message_id IN (SELECT unnest(?::BIGINT[]))",
                [[r[0] for r in rows]],
            )
        return len(rows)

    # -- search --------------------------------------------------------------------------------
    def _sync_search(self) -> int:
        """Make ``message_search`` hold one current signature per message; return rows built."""
        with self._lock:
            con = self.con
            row = self._one("SELECT value FROM store_meta WHERE key = ?", [_SIG_META_KEY])
            if row is None or row[0] != _SIG_META_VALUE:
                with self._tx():  # derived data: rebuilt below from messages
                    con.execute("DROP TABLE message_search")
                    schema.create_message_search(con)
                    con.execute(
                        "INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [_SIG_META_KEY, _SIG_META_VALUE]
                    )
            counts = self._one(
                "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM message_search)"
            )
            if counts is None or counts[0] == counts[1]:
                return 0
            built = 0
            with self._tx():
                con.execute("DELETE FROM message_search WHERE message_id NOT IN (SELECT id FROM messages)")
                missing = con.sql(
                    "SELECT m.id, m.session_id, m.content FROM messages m "
                    "ANTI JOIN message_search s ON s.message_id = m.id"
                ).to_arrow_table()  # read fully before inserting into the table being joined
                names = ["message_id", "session_id", *sig_column_names()]
                for batch in missing.to_batches(max_chunksize=50_000):
                    ids = batch.column(0).to_pylist()
                    sessions = batch.column(1).to_pylist()
                    sigs = [signature(text) for text in batch.column(2).to_pylist()]
                    columns = [pa.array(ids, pa.int64()), pa.array(sessions, pa.string())]
                    columns += [pa.array([s[i] for s in sigs], pa.int64()) for i in range(len(names) - 2)]
                    con.register("_search_batch", pa.Table.from_arrays(columns, names=names))
                    try:
                        con.execute("INSERT INTO message_search SELECT * FROM _search_batch")
                    finally:
                        con.unregister("_search_batch")
                    built += len(ids)
            return built

    def sync_search_index(self) -> int:
        """Build the search signatures of messages that lack one (after a bulk load); return count.

        Runs on every open, so callers only need it after writing ``messages`` with SQL directly.
        """
        return self._sync_search()

    def _tokens(self, q: Any) -> list[str]:
        if not isinstance(q, str):
            raise InvalidInput("q must be a string")
        if len(q) > 1000:
            raise InvalidInput("q is longer than 1000 characters")
        return query_words(q)

    def _candidate_sql(self, tokens: list[str]) -> tuple[str, list[Any]]:
        """FROM/WHERE of a superset of the messages that can match (message_id, session_id)."""
        mask = query_mask(tokens)
        if mask:
            return f"FROM message_search WHERE {mask_condition(mask)}", []
        # only one-letter words: no signature bits, fall back to a substring scan
        conds = " AND ".join(["content ILIKE ?"] * len(tokens))
        return (
            f"FROM (SELECT id AS message_id, session_id, content FROM messages) WHERE {conds}",
            [f"%{t}%" for t in tokens],  # tokens hold letters/digits only: nothing to escape
        )

    def _contents(self, ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
        rows = self.con.execute(
            f"SELECT id, session_id, role, content, created_at FROM messages WHERE {_in_ids('id', ids)}",
            [list(ids)],
        ).fetchall()
        return {r[0]: r for r in rows}

    def search_messages(self, q: str, limit: int = 50) -> list[dict[str, Any]]:
        """Newest messages whose text holds every word of ``q`` as a word prefix (case-insensitive)."""
        limit = val.check_int(limit, "limit", minimum=1, maximum=MAX_LIST_LIMIT)
        tokens = self._tokens(q)
        if not tokens:
            return []
        matcher = Matcher(tokens)
        found: list[dict[str, Any]] = []
        with self._lock:
            source, params = self._candidate_sql(tokens)
            upper: int | None = None
            chunk = max(256, limit * 4)
            while len(found) < limit:
                where = "" if upper is None else f" AND message_id < {int(upper)}"
                ids = [
                    r[0]
                    for r in self.con.execute(
                        f"SELECT message_id {source}{where} ORDER BY message_id DESC LIMIT {chunk}", params
                    ).fetchall()
                ]
                if not ids:
                    break
                rows = self._contents(ids)
                for mid in ids:
                    r = rows.get(mid)
                    if r is not None and matcher(r[3]):
                        found.append(
                            {
                                "session_id": r[1],
                                "message_id": r[0],
                                "role": r[2],
                                "snippet": matcher.snippet(r[3]),
                                "created_at": val.iso(r[4]),
                            }
                        )
                        if len(found) >= limit:
                            break
                upper = ids[-1]
                chunk = min(chunk * 2, 16384)
        return found

    def _verify_sessions(self, st: _SessionSearch, sids: list[str]) -> set[str]:
        """Which of ``sids`` hold a message that really matches (their candidates are checked newest
        first; the newest one almost always settles it, later rounds cover false positives)."""
        found: set[str] = set()
        rows = self._contents([st.newest[sid][0] for sid in sids])
        unresolved = []
        for sid in sids:
            r = rows.get(st.newest[sid][0])
            if r is not None and st.matcher(r[3]):
                found.add(sid)
            elif st.newest[sid][1] > 1:  # more candidates to look at
                unresolved.append(sid)
        if not unresolved:
            return found
        list_sql = f"SELECT session_id, list(message_id ORDER BY message_id DESC) {st.source}"
        if st.lists is None and sum(n for _, n in st.newest.values()) <= _ALL_CANDIDATES_MAX:
            # few candidates overall: fetch every session's list once, for this and later windows
            st.lists = dict(self.con.execute(f"{list_sql} GROUP BY session_id", st.params).fetchall())
        if st.lists is not None:
            pending = {sid: st.lists[sid] for sid in unresolved}
        else:
            pending = dict(
                self.con.execute(
                    f"{list_sql} AND session_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY session_id",
                    [*st.params, unresolved],
                ).fetchall()
            )
        depth = 1
        while pending:
            batch = {sid: ids[depth] for sid, ids in pending.items()}
            rows = self._contents(list(batch.values()))
            for sid, mid in batch.items():
                r = rows.get(mid)
                if r is not None and st.matcher(r[3]):
                    found.add(sid)
                    del pending[sid]
            depth += 1
            pending = {sid: ids for sid, ids in pending.items() if depth < len(ids)}
        return found

    def _listing_order(self) -> list[tuple[str, str | None]]:
        """(id, title) of every session in listing order, cached until the next write."""
        if self._order_cache is None or self._order_cache[0] != self._writes:
            rows = self.con.execute(
                "SELECT id, title FROM sessions ORDER BY pinned DESC, updated_at DESC, id"
            ).fetchall()
            self._order_cache = (self._writes, rows)
        return self._order_cache[1]

    def _session_search(self, tokens: list[str]) -> _SessionSearch:
        """The state of one session search, kept until the next write (list + count share it)."""
        key = (tuple(tokens), self._writes)
        if self._search_cache is not None and self._search_cache.key == key:
            return self._search_cache
        source, params = self._candidate_sql(tokens)
        # per candidate session: (newest candidate, number of candidates)
        newest = {
            sid: (mid, n)
            for sid, mid, n in self.con.execute(
                f"SELECT session_id, max(message_id), count(*) {source} GROUP BY session_id", params
            ).fetchall()
        }
        state = _SessionSearch(key, Matcher(tokens), source, params, newest, self._listing_order())
        self._search_cache = state
        return state

    def _matching_session_ids(self, q: str, need: int | None = None) -> list[str]:
        """Ids of the sessions whose title, or one of whose messages, holds every word of ``q``, in
        listing order (pinned, then most recent). With ``need``, stops once that many are found."""
        tokens = self._tokens(q)
        if not tokens:
            return []
        st = self._session_search(tokens)
        result: list[str] = []
        # walk the listing in windows (doubling, so a rare word costs a few fetches, not one per
        # window); verdicts are kept, so a count after a page only checks the rest
        window = len(st.ordered) if need is None else max(64, 2 * need)
        start = 0
        while start < len(st.ordered):
            chunk = st.ordered[start : start + window]
            start += window
            window *= 2
            to_check = []
            for sid, title in chunk:
                if sid not in st.verdict:
                    if st.matcher(title):
                        st.verdict[sid] = True
                    elif sid in st.newest:
                        to_check.append(sid)
                    else:
                        st.verdict[sid] = False
            if to_check:
                found = self._verify_sessions(st, to_check)
                st.verdict.update((sid, sid in found) for sid in to_check)
            result += [sid for sid, _ in chunk if st.verdict[sid]]
            if need is not None and len(result) >= need:
                break
        return result

    # -- export / import -----------------------------------------------------------------------
    def export_session(self, session_id: str, fmt: str = "json") -> str:
        if fmt not in ("json", "markdown"):
            raise InvalidInput(f"unknown export format {fmt!r} (use 'json' or 'markdown')")
        with self._lock:
            session = self._get_session(session_id)
            messages = self._messages_by_ids(self._session_message_ids(session_id))
        if fmt == "markdown":
            return export_mod.to_markdown(session, messages)
        return export_mod.to_json(session, messages, val.iso(val.now()) or "")

    def import_session(self, data: str | dict[str, Any]) -> Session:
        """Create a new session from a JSON export: new ids, same content, metadata, metrics, order."""
        doc = export_mod.parse_document(data)
        sess = doc["session"]
        now = val.now()
        session_id = uuid.uuid4().hex
        with self._lock, self._tx() as con:
            con.execute(
                "INSERT INTO sessions (id, title, model, system_prompt, params, pinned, created_at, "
                "updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    session_id,
                    val.check_title(sess["title"]),
                    sess["model"],
                    sess["system_prompt"],
                    val.dump(sess["params"], "session.params"),
                    sess["pinned"],
                    val.naive_utc(sess["created_at"]) or now,
                    now,
                ],
            )
            new_ids: dict[Any, int] = {}
            prompt_total = completion_total = 0
            for m in doc["messages"]:
                parent = new_ids.get(m["old_parent_id"]) if m["old_parent_id"] is not None else None
                row = con.execute(
                    "INSERT INTO messages (session_id, role, content, model, params, parent_id, status, "
                    "metadata, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    [
                        session_id,
                        m["role"],
                        m["content"],
                        m["model"],
                        val.dump(m["params"], "message.params"),
                        parent,
                        m["status"],
                        val.dump(m["metadata"], "message.metadata"),
                        val.naive_utc(m["created_at"]) or now,
                    ],
                ).fetchone()
                assert row is not None
                mid = int(row[0])
                if m["old_id"] is not None:
                    new_ids[m["old_id"]] = mid
                self._insert_search_row(con, mid, session_id, m["content"])
                x = m["metrics"]
                if x is not None:
                    con.execute(
                        "INSERT INTO metrics (message_id, prompt_tokens, completion_tokens, ttft_s, "
                        "tokens_per_s, total_s, model, device, finish_reason, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [
                            mid,
                            x["prompt_tokens"],
                            x["completion_tokens"],
                            x["ttft_s"],
                            x["tokens_per_s"],
                            x["total_s"],
                            x["model"],
                            x["device"],
                            x["finish_reason"],
                            now,
                        ],
                    )
                    prompt_total += x["prompt_tokens"]
                    completion_total += x["completion_tokens"]
            con.execute(
                "UPDATE sessions SET message_count = ?, prompt_tokens = ?, completion_tokens = ? "
                "WHERE id = ?",
                [len(doc["messages"]), prompt_total, completion_total, session_id],
            )
        with self._lock:
            return self._get_session(session_id)

    # -- response cache ------------------------------------------------------------------------
    @staticmethod
    def _check_cache_key(key: Any) -> str:
        key = val.check_str(key, "key", allow_none=False, max_chars=MAX_CACHE_KEY_CHARS)
        if not key:
            raise InvalidInput("key must not be empty")
        return key

    def cache_get(self, key: str) -> dict[str, Any] | None:
        key = self._check_cache_key(key)
        with self._lock:
            row = self._one("SELECT value FROM response_cache WHERE key = ?", [key])
        return val.load(row[0]) if row else None

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        key = self._check_cache_key(key)
        value_json = val.dump(value, "value")
        with self._lock, self._tx() as con:
            con.execute(
                "INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?)", [key, value_json, val.now()]
            )

    # -- read-only SQL -------------------------------------------------------------------------
    def query(
        self, sql: str, *, max_rows: int = 10_000, timeout_s: float = 30.0
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read-only statement; return (column names, at most ``max_rows`` rows).

        Anything that could write is refused with InvalidInput before it runs; the statement then
        runs in a transaction that is rolled back, and is interrupted after ``timeout_s``.
        """
        statement = check_read_only(sql)
        max_rows = val.check_int(max_rows, "max_rows", minimum=1)
        with self._lock:
            con = self.con
            timer = threading.Timer(timeout_s, con.interrupt)
            con.execute("BEGIN TRANSACTION")
            timer.start()
            try:
                result = con.execute(statement)
                columns = [d[0] for d in (result.description or [])]
                rows = result.fetchmany(max_rows) if columns else []
            except duckdb.InterruptException as exc:
                raise InvalidInput(f"query stopped after {timeout_s:g} s", code="query_timeout") from exc
            except duckdb.Error as exc:
                raise InvalidInput(f"query failed: {exc}") from exc
            finally:
                timer.cancel()
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
        return columns, rows
