"""Session rows: create, read, list (with search), update, delete."""

from __future__ import annotations

import uuid
from typing import Any

from ..errors import InvalidInput
from . import rows
from . import values as val
from .database import Database
from .signature_index import MAX_LIST_LIMIT, SignatureIndex
from .types import Session
from .writes import insert_session

#: marks a keyword argument that was not given (None is a value: "clear this field")
UNSET: Any = object()


def _blank(q: str | None) -> bool:
    return q is None or (isinstance(q, str) and not q.strip())


class Sessions:
    def __init__(self, db: Database, index: SignatureIndex) -> None:
        self.db = db
        self.index = index

    def create(
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
        with self.db.lock:
            with self.db.tx() as con:
                insert_session(
                    con,
                    session_id,
                    title=title,
                    model=model,
                    system_prompt=system_prompt,
                    params_json=params_json,
                    pinned=False,
                    created_at=now,
                    updated_at=now,
                )
            return rows.get_session(self.db.con, session_id)

    def get(self, session_id: str) -> Session:
        with self.db.lock:
            return rows.get_session(self.db.con, session_id)

    def list(self, q: str | None = None, limit: int = 50, offset: int = 0) -> list[Session]:
        limit = val.check_int(limit, "limit", minimum=1, maximum=MAX_LIST_LIMIT)
        offset = val.check_int(offset, "offset", minimum=0)
        order = "ORDER BY pinned DESC, updated_at DESC, id LIMIT ? OFFSET ?"
        with self.db.lock:
            con = self.db.con
            if _blank(q):
                found = con.execute(f"SELECT {rows.SESSION_COLS} FROM sessions {order}", [limit, offset])
                return [rows.session(r) for r in found.fetchall()]
            page = self.index.matching_session_ids(q, need=offset + limit)[offset : offset + limit]
            if not page:
                return []
            found = con.execute(
                f"SELECT {rows.SESSION_COLS} FROM sessions WHERE id IN (SELECT unnest(?::VARCHAR[]))", [page]
            ).fetchall()
            by_id = {r[0]: rows.session(r) for r in found}
            return [by_id[sid] for sid in page if sid in by_id]

    def count(self, q: str | None = None) -> int:
        with self.db.lock:
            if _blank(q):
                row = self.db.one("SELECT count(*) FROM sessions")
                return int(row[0]) if row else 0
            return len(self.index.matching_session_ids(q))

    def update(
        self,
        session_id: str,
        *,
        title: Any = UNSET,
        model: Any = UNSET,
        system_prompt: Any = UNSET,
        params: Any = UNSET,
        pinned: Any = UNSET,
    ) -> Session:
        sets: list[str] = []
        values: list[Any] = []
        if title is not UNSET:
            sets.append("title = ?")
            values.append(val.check_title(title))
        if model is not UNSET:
            sets.append("model = ?")
            values.append(val.check_name(model, "model"))
        if system_prompt is not UNSET:
            sets.append("system_prompt = ?")
            values.append(val.check_str(system_prompt, "system_prompt"))
        if params is not UNSET:
            sets.append("params = ?")
            values.append(val.dump(params, "params"))
        if pinned is not UNSET:
            if not isinstance(pinned, bool):
                raise InvalidInput("pinned must be true or false")
            sets.append("pinned = ?")
            values.append(pinned)
        if sets and sets != ["pinned = ?"]:  # pinning alone does not count as an edit
            sets.append("updated_at = ?")
            values.append(val.now())
        with self.db.lock:
            rows.get_session(self.db.con, session_id)
            if sets:
                with self.db.tx() as con:
                    con.execute(f"UPDATE sessions SET {', '.join(sets)} WHERE id = ?", [*values, session_id])
            return rows.get_session(self.db.con, session_id)

    def delete(self, session_id: str) -> None:
        with self.db.lock:
            rows.get_session(self.db.con, session_id)
            ids = rows.session_message_ids(self.db.con, session_id)
            with self.db.tx() as con:
                if ids:
                    con.execute("DELETE FROM metrics WHERE message_id IN (SELECT unnest(?::BIGINT[]))", [ids])
                con.execute("DELETE FROM message_search WHERE session_id = ?", [session_id])
                con.execute("DELETE FROM messages WHERE session_id = ?", [session_id])
                con.execute("DELETE FROM sessions WHERE id = ?", [session_id])
