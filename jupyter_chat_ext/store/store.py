"""The chat history store: one DuckDB file behind one small API (see docs/architecture.md, Store).

``Store`` only composes the rooms of this package, one idea each:

- :mod:`.database`: opening the file, its lock-down, the write lock, transactions, read cursors;
- :mod:`.rows`: rows to :mod:`.types` dicts; :mod:`.values`: checks of everything written;
- :mod:`.sessions`, :mod:`.messages`: CRUD, metrics and the life of a streamed answer;
- :mod:`.writes`: the one set of INSERT helpers (``add_message`` and a 20k-message import alike);
- :mod:`.signature_index` (over :mod:`.search`): history search; :mod:`.transfer` (over
  :mod:`.export`, :mod:`.import_doc`): export and import; :mod:`.cache`; :mod:`.sql_door`.

Every write takes the store lock, so the server may call it from several threads; each call commits
on its own (a message is durable as soon as ``add_message`` returns). Long reads (the SQL door,
exports) run on cursors of their own and never take that lock. One process owns the file
read-write: a second one gets :class:`Unavailable`.

Figures (bench/bench_store.py, 1M messages / 10k sessions, a shared 2-core box): last 50 messages
~5-7 ms, search_messages ~10-15 ms, list_sessions(q) ~55-80 ms p50. ``messages.id`` comes from a
sequence, so ``before=`` paging is ``id < before``; ``sessions`` keeps ``message_count`` /
``prompt_tokens`` / ``completion_tokens`` in step with each write, so listing never aggregates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from . import cache, sql_door, transfer
from .database import Database
from .messages import Messages
from .sessions import UNSET, Sessions
from .signature_index import MAX_LIST_LIMIT, SignatureIndex
from .types import Message, SearchHit, Session

__all__ = ["MAX_LIST_LIMIT", "Message", "Session", "Store"]


class Store:
    """Sessions, messages, metrics and the response cache in one DuckDB file."""

    def __init__(self, path: str | Path) -> None:
        self._db = Database(path)
        self.path = self._db.path
        try:
            self._index = SignatureIndex(self._db)
            self._sessions = Sessions(self._db, self._index)
            self._messages = Messages(self._db)
            #: rows a crash left "streaming", marked interrupted by this open
            self.recovered_on_open: int = self._messages.recover_streaming()
            self._index.sync()
        except BaseException:
            self._db.close()
            raise

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The main (write) connection; use only under the store's lock."""
        return self._db.con

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions --------------------------------------------------------------------------------
    def create_session(
        self,
        title: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Session:
        return self._sessions.create(title, model, system_prompt, params)

    def get_session(self, session_id: str) -> Session:
        return self._sessions.get(session_id)

    def list_sessions(self, q: str | None = None, limit: int = 50, offset: int = 0) -> list[Session]:
        """Pinned first, then most recently updated; ``q`` matches titles and message text."""
        return self._sessions.list(q, limit, offset)

    def count_sessions(self, q: str | None = None) -> int:
        return self._sessions.count(q)

    def update_session(
        self,
        session_id: str,
        *,
        title: Any = UNSET,
        model: Any = UNSET,
        system_prompt: Any = UNSET,
        params: Any = UNSET,
        pinned: Any = UNSET,
    ) -> Session:
        return self._sessions.update(
            session_id, title=title, model=model, system_prompt=system_prompt, params=params, pinned=pinned
        )

    def delete_session(self, session_id: str) -> None:
        """Deletes its messages, metrics and search rows too."""
        self._sessions.delete(session_id)

    # -- messages --------------------------------------------------------------------------------
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
        fork: bool = False,
    ) -> Message:
        """``tokens``: the token count of ``content`` when known (kept, so history is not re-tokenized).
        A user message follows the branch shown unless ``fork`` (an edit: a sibling of the
        message edited, ``parent_id`` its parent), see store/branches.py."""
        return self._messages.add(
            session_id,
            role,
            content,
            model=model,
            params=params,
            parent_id=parent_id,
            status=status,
            metadata=metadata,
            tokens=tokens,
            fork=fork,
        )

    def update_message(
        self,
        message_id: int,
        *,
        content: str | None = None,
        status: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        return self._messages.update(message_id, content=content, status=status, metadata=metadata)

    def get_message(self, message_id: int) -> Message:
        return self._messages.get(message_id)

    def list_messages(
        self, session_id: str, before: int | None = None, limit: int = 100, through: int | None = None
    ) -> list[Message]:
        """The ``limit`` newest messages of the branch shown (``through``: of the branch that leads
        to that user message) with ``id < before`` (all when None), oldest first."""
        return self._messages.list(session_id, before, limit, through)

    def switch_branch(self, session_id: str, message_id: int) -> int:
        """Show the branch of user message ``message_id``; returns the new head (store/branches.py)."""
        return self._messages.switch_branch(session_id, message_id)

    def delete_message(self, message_id: int) -> None:
        self._messages.delete(message_id)

    def delete_messages_after(self, session_id: str, message_id: int) -> int:
        """Delete the messages of ``message_id``'s turn newer than it (what regenerate replaces:
        an agent turn's later steps and tool rows); return how many."""
        return self._messages.delete_after(session_id, message_id)

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
        self._messages.add_metrics(
            message_id,
            {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "ttft_s": ttft_s,
                "tokens_per_s": tokens_per_s,
                "total_s": total_s,
                "model": model,
                "device": device,
                "finish_reason": finish_reason,
            },
        )

    def checkpoint_message(self, message_id: int, content: str, completion_tokens: int) -> None:
        """Save the text streamed so far of a ``streaming`` answer: one UPDATE, nothing else.

        Cheap enough for once a second (no search signature, no session counters; those follow
        at ``finish_message``). A message no longer streaming is left alone, so a late checkpoint
        never overwrites the final text; NotFound for an unknown id.
        """
        self._messages.checkpoint(message_id, content, completion_tokens)

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
        """The final state of an answer in one transaction: content, status, metadata, token count,
        search signature, metrics row (keys as in ``add_metrics``) and the session's sums."""
        return self._messages.finish(
            message_id, content=content, status=status, metadata=metadata, metrics=metrics, tokens=tokens
        )

    # -- search ----------------------------------------------------------------------------------
    def search_messages(self, q: str, limit: int = 50) -> list[SearchHit]:
        """Newest messages whose text holds every word of ``q`` as a word prefix (case-insensitive)."""
        return self._index.search_messages(q, limit)

    def sync_search_index(self) -> int:
        """Build the search signatures of messages that lack one (after a bulk load); return count.

        Runs on every open, so callers only need it after writing ``messages`` with SQL directly.
        """
        return self._index.sync()

    # -- export / import -------------------------------------------------------------------------
    def export_session(self, session_id: str, fmt: str = "json") -> str:
        """JSON document or Markdown transcript, read on a cursor of its own (no store lock)."""
        return transfer.export_session(self._db, session_id, fmt)

    def import_session(
        self, data: str | bytes | dict[str, Any], *, max_content_chars: int | None = None
    ) -> Session:
        """A new session from a JSON export (new ids; same content, metadata, metrics, order).

        Every field is validated before anything is written (types, sizes, nesting depth, dates,
        integer ranges, valid UTF-8; ``max_content_chars`` as for chat, default 200,000), then all
        rows go in one bulk transaction.
        """
        return transfer.import_session(self._db, data, max_content_chars=max_content_chars)

    # -- response cache --------------------------------------------------------------------------
    def cache_get(self, key: str) -> dict[str, Any] | None:
        return cache.cache_get(self._db, key)

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        cache.cache_put(self._db, key, value)

    # -- read-only SQL ---------------------------------------------------------------------------
    def query(
        self, sql: str, *, max_rows: int = 10_000, timeout_s: float = 30.0
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read-only statement; return (column names, at most ``max_rows`` rows).

        Runs on its own cursor (never the store lock) over a database that can reach no file,
        network or extension; writes, sequence moves and SQL-in-strings are refused with
        InvalidInput saying what was refused; interrupted after ``timeout_s`` (``query_timeout``).
        """
        return sql_door.run_query(self._db, sql, max_rows=max_rows, timeout_s=timeout_s)
