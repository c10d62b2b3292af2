"""Export and import of a whole session, off the path chats take.

An export reads one snapshot on a cursor of its own, so a long history never holds the store's
write lock. An import is validated and signed (search signatures) before the lock is taken, then
written in one transaction through the same insert helpers as ``add_message`` (:mod:`.writes`),
in bulk: 20k messages hold the lock for well under a second (bench/bench_store.py ``import``).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from ..errors import InvalidInput
from . import export as export_mod
from . import rows
from . import values as val
from .database import Database
from .import_doc import DEFAULT_MAX_CONTENT_CHARS, parse_document
from .search import signature
from .types import Session
from .writes import allocate_ids, insert_messages, insert_session, upsert_metrics


def export_session(db: Database, session_id: str, fmt: str = "json") -> str:
    if fmt not in ("json", "markdown"):
        raise InvalidInput(f"unknown export format {fmt!r} (use 'json' or 'markdown')")
    with db.reader() as cur:
        session = rows.get_session(cur, session_id)
        messages = rows.messages_by_ids(cur, rows.session_message_ids(cur, session["id"]))
    if fmt == "markdown":
        return export_mod.to_markdown(dict(session), [dict(m) for m in messages])
    return export_mod.to_json(dict(session), [dict(m) for m in messages], val.iso(val.now()) or "")


def import_session(
    db: Database, data: str | bytes | dict[str, Any], *, max_content_chars: int | None = None
) -> Session:
    """A new session from a JSON export: new ids; same content, metadata, metrics and order."""
    doc = parse_document(data, max_content_chars=max_content_chars or DEFAULT_MAX_CONTENT_CHARS)
    signatures = [signature(m.row.content) for m in doc.messages]
    now = val.now()
    session_id = uuid.uuid4().hex
    with db.lock, db.tx() as con:
        ids = allocate_ids(con, len(doc.messages))
        new_id = {m.old_id: mid for m, mid in zip(doc.messages, ids, strict=True) if m.old_id is not None}
        new_rows = [
            dataclasses.replace(m.row, parent_id=None if m.old_parent_id is None else new_id[m.old_parent_id])
            for m in doc.messages
        ]
        insert_session(
            con,
            session_id,
            title=doc.title,
            model=doc.model,
            system_prompt=doc.system_prompt,
            params_json=doc.params_json,
            pinned=doc.pinned,
            created_at=doc.created_at or now,
            updated_at=now,
        )
        insert_messages(con, session_id, ids, new_rows, signatures, now=now)
        with_metrics = [
            (mid, m.metrics) for m, mid in zip(doc.messages, ids, strict=True) if m.metrics is not None
        ]
        upsert_metrics(con, session_id, [mid for mid, _ in with_metrics], [x for _, x in with_metrics])
    with db.lock:
        return rows.get_session(db.con, session_id)
