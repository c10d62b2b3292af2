"""The DuckDB file of the chat store: opening it, its lock-down, the write lock, transactions and
read cursors.

One process owns the file read-write (a second one gets :class:`Unavailable` ``store_locked``).
Inside it, every write goes through the main connection under one lock (DuckDB connections are not
safe to share between threads, and serialising writes avoids DuckDB's transaction conflicts on the
session counters). Long reads (the SQL door, exports) run on their own cursor instead: a cursor is
a second connection to the same database instance, reads a consistent snapshot (MVCC) and never
takes the write lock, so a 30 s query cannot stall a chat.

Lock-down: DuckDB's ``enable_external_access``, extension auto-install/-load and
``lock_configuration`` are settings of the database *instance*, shared by every connection and
cursor on it; a cursor cannot be confined on its own. The store itself needs none of them (Arrow
data is registered explicitly, the WAL and temp files are DuckDB's own), so the whole instance is
locked down right after the schema is migrated: no file, network or extension access, no SET.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb

from ..errors import Conflict, SchemaError, StorageFull, Unavailable
from . import schema

#: an ART index scan is used while a lookup yields at most this many rows (DuckDB's default: 2048)
INDEX_SCAN_MAX_COUNT = 65536
#: how long close() waits for interrupted reader cursors to finish
READER_CLOSE_WAIT_S = 10.0
#: applied to the instance once, in this order (lock_configuration last: it freezes the rest)
LOCKDOWN_SETTINGS = (
    ("index_scan_max_count", str(INDEX_SCAN_MAX_COUNT)),
    ("enable_external_access", "false"),
    ("autoinstall_known_extensions", "false"),
    ("autoload_known_extensions", "false"),
    ("allow_community_extensions", "false"),
    ("lock_configuration", "true"),
)


class Database:
    """The open store file: ``con`` (writes, under ``lock``), ``tx()``, ``reader()`` cursors."""

    def __init__(self, path: str | Path) -> None:
        self.path: str | Path = path if str(path) == ":memory:" else Path(path).expanduser()
        self.lock = threading.RLock()
        self._readers_done = threading.Condition(self.lock)
        #: bumped by every committed write transaction; keys caches of derived read results
        self.writes = 0
        self._readers: set[duckdb.DuckDBPyConnection] = set()
        self._con: duckdb.DuckDBPyConnection | None = self._connect()
        try:
            schema.migrate(self._con, where=str(self.path))
            for name, value in LOCKDOWN_SETTINGS:
                self._con.execute(f"SET {name} = {value}")
        except BaseException:
            self.close()
            raise

    # -- opening ---------------------------------------------------------------------------------
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

    # -- use ---------------------------------------------------------------------------------------
    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            raise Unavailable("the chat store is closed", code="store_closed")
        return self._con

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.con.execute(sql, list(params)).fetchone()

    @contextlib.contextmanager
    def tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One write transaction on the main connection (callers hold ``lock``)."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            yield con
        except BaseException as exc:
            con.execute("ROLLBACK")
            if isinstance(exc, duckdb.TransactionException):
                raise _conflict(exc) from exc
            raise
        try:
            con.execute("COMMIT")
        except duckdb.Error as exc:
            # a full disk fails the WAL write at commit (DuckDB raises it as a TransactionException
            # "Failed to commit"); it has rolled back and stays usable, and writes work again once
            # there is room (checked on a tmpfs): say so instead of a 500 or a retryable conflict
            if "No space left on device" in str(exc):
                raise StorageFull(
                    f"the disk holding the chat store is full; nothing was written ({self.path})"
                ) from exc
            if isinstance(exc, duckdb.TransactionException):
                raise _conflict(exc) from exc
            raise
        self.writes += 1

    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own inside a read transaction (one snapshot), rolled back at the end.

        The write lock is held only while the cursor is made; ``close()`` interrupts open readers.
        """
        with self.lock:
            cur = self.con.cursor()
            self._readers.add(cur)
        try:
            cur.execute("BEGIN TRANSACTION")
            yield cur
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            cur.close()
            with self.lock:
                self._readers.discard(cur)
                self._readers_done.notify_all()

    def close(self) -> None:
        with self.lock:
            # DuckDB refuses to close a connection while one of its cursors runs a query: interrupt
            # the readers and wait (the lock is released meanwhile) until they have let go
            for cur in list(self._readers):
                with contextlib.suppress(duckdb.Error):
                    cur.interrupt()
            self._readers_done.wait_for(lambda: not self._readers, timeout=READER_CLOSE_WAIT_S)
            if self._con is not None:
                try:
                    self._con.close()
                finally:
                    self._con = None


def _conflict(exc: duckdb.TransactionException) -> Conflict:
    """Another transaction holds the rows (DuckDB: "Conflict on tuple deletion"): a 409 the client
    can retry, as PostgreSQL answers a serialization failure, never a 500."""
    return Conflict(
        f"another transaction is changing the same rows; nothing was written, try again ({exc})",
        code="write_conflict",
    )
