"""The signature index over chat history: ``message_search`` kept in step with ``messages``, and
the two searches built on it (messages, and sessions in listing order).

The signature scheme itself (words, features, Bloom bits, the exact :class:`Matcher`) is in
:mod:`.search`; this module owns the table and the queries. Reads run on the main connection under
the store lock (they are short: a few ms at 1M messages, see bench/bench_store.py); results of a
session search are cached until the next write (``Database.writes``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInput
from . import schema
from . import values as val
from .database import Database
from .rows import in_ids
from .search import (
    BITS_PER_FEATURE,
    SIG_BITS,
    SIGNATURE_VERSION,
    Matcher,
    mask_condition,
    query_mask,
    query_words,
    signature,
)
from .types import SearchHit
from .writes import insert_search_rows

MAX_LIST_LIMIT = 1000
#: session search fetches all candidate ids at once below this many candidate messages
_ALL_CANDIDATES_MAX = 100_000
_SIG_META_KEY = "search_signature"
_SIG_META_VALUE = f"v{SIGNATURE_VERSION}/{SIG_BITS}bits/{json.dumps(BITS_PER_FEATURE, sort_keys=True)}"
#: rows whose signatures are computed and inserted per statement when (re)building
_SYNC_BATCH = 50_000


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


class SignatureIndex:
    """Search over one store's messages and session titles (see :mod:`.search` for semantics)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._search_cache: _SessionSearch | None = None
        self._order_cache: tuple[int, list[tuple[str, str | None]]] | None = None

    def sync(self) -> int:
        """Make ``message_search`` hold one current signature per message; return rows built.

        Runs on every open, so callers only need it after writing ``messages`` with SQL directly.
        """
        db = self.db
        with db.lock:
            con = db.con
            row = db.one("SELECT value FROM store_meta WHERE key = ?", [_SIG_META_KEY])
            if row is None or row[0] != _SIG_META_VALUE:
                with db.tx():  # derived data: rebuilt below from messages
                    con.execute("DROP TABLE message_search")
                    schema.create_message_search(con)
                    con.execute(
                        "INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [_SIG_META_KEY, _SIG_META_VALUE]
                    )
            counts = db.one("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM message_search)")
            if counts is None or counts[0] == counts[1]:
                return 0
            built = 0
            with db.tx():
                con.execute("DELETE FROM message_search WHERE message_id NOT IN (SELECT id FROM messages)")
                missing = con.sql(
                    "SELECT m.id, m.session_id, m.content FROM messages m "
                    "ANTI JOIN message_search s ON s.message_id = m.id"
                ).to_arrow_table()  # read fully before inserting into the table being joined
                for batch in missing.to_batches(max_chunksize=_SYNC_BATCH):
                    ids = batch.column(0).to_pylist()
                    sigs = [signature(text) for text in batch.column(2).to_pylist()]
                    insert_search_rows(con, ids, batch.column(1).to_pylist(), sigs)
                    built += len(ids)
            return built

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
        rows = self.db.con.execute(
            f"SELECT id, session_id, role, content, created_at FROM messages WHERE {in_ids('id', ids)}",
            [list(ids)],
        ).fetchall()
        return {r[0]: r for r in rows}

    def search_messages(self, q: str, limit: int = 50) -> list[SearchHit]:
        """Newest messages whose text holds every word of ``q`` as a word prefix (case-insensitive)."""
        limit = val.check_int(limit, "limit", minimum=1, maximum=MAX_LIST_LIMIT)
        tokens = self._tokens(q)
        if not tokens:
            return []
        matcher = Matcher(tokens)
        found: list[SearchHit] = []
        with self.db.lock:
            source, params = self._candidate_sql(tokens)
            upper: int | None = None
            chunk = max(256, limit * 4)
            while len(found) < limit:
                where = "" if upper is None else f" AND message_id < {int(upper)}"
                ids = [
                    r[0]
                    for r in self.db.con.execute(
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
                                "created_at": val.iso(r[4]) or "",
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
            st.lists = dict(self.db.con.execute(f"{list_sql} GROUP BY session_id", st.params).fetchall())
        if st.lists is not None:
            pending = {sid: st.lists[sid] for sid in unresolved}
        else:
            pending = dict(
                self.db.con.execute(
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
        if self._order_cache is None or self._order_cache[0] != self.db.writes:
            rows = self.db.con.execute(
                "SELECT id, title FROM sessions ORDER BY pinned DESC, updated_at DESC, id"
            ).fetchall()
            self._order_cache = (self.db.writes, rows)
        return self._order_cache[1]

    def _session_search(self, tokens: list[str]) -> _SessionSearch:
        """The state of one session search, kept until the next write (list + count share it)."""
        key = (tuple(tokens), self.db.writes)
        if self._search_cache is not None and self._search_cache.key == key:
            return self._search_cache
        source, params = self._candidate_sql(tokens)
        # per candidate session: (newest candidate, number of candidates)
        newest = {
            sid: (mid, n)
            for sid, mid, n in self.db.con.execute(
                f"SELECT session_id, max(message_id), count(*) {source} GROUP BY session_id", params
            ).fetchall()
        }
        state = _SessionSearch(key, Matcher(tokens), source, params, newest, self._listing_order())
        self._search_cache = state
        return state

    def matching_session_ids(self, q: str, need: int | None = None) -> list[str]:
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
