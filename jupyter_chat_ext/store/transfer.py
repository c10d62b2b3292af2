"""Export and import of a whole session, off the path chats take.

An export reads one snapshot on a cursor of its own, so a long history never holds the store's
write lock. An import is validated and signed (search signatures) before the lock is taken, then
written in one transaction through the same insert helpers as ``add_message`` (:mod:`.writes`),
in bulk (bench/bench_store.py ``durability.import``: the lock hold of a 20k-message import).
"""

from __future__ import annotations

import uuid
from typing import Any

from ..errors import InvalidInput
from ..gc_pause import gc_paused
from . import branches, rows
from . import export as export_mod
from . import values as val
from .database import Database
from .import_doc import DEFAULT_MAX_CONTENT_CHARS, parse_document
from .search import signature
from .types import Session
from .writes import allocate_ids, insert_messages, insert_session, message_batch, upsert_metrics


def export_session(db: Database, session_id: str, fmt: str = "json") -> str:
    if fmt not in ("json", "markdown"):
        raise InvalidInput(f"unknown export format {fmt!r} (use 'json' or 'markdown')")
    with db.reader() as cur:
        session = rows.get_session(cur, session_id)
        found = branches.session_rows(cur, session["id"])
        head = branches.stored_head(cur, session["id"])
        if fmt == "markdown":  # a transcript reads as one thread: the branch shown
            messages = rows.messages_by_ids(cur, branches.path_ids(found, head))
        else:  # every branch
            messages = rows.messages_by_ids(cur, [r[0] for r in found])
    if fmt == "markdown":
        return export_mod.to_markdown(dict(session), [dict(m) for m in messages])
    exported = {**session, "head_id": head}
    return export_mod.to_json(exported, [dict(m) for m in messages], val.iso(val.now()) or "")


def import_session(
    db: Database, data: str | bytes | dict[str, Any], *, max_content_chars: int | None = None
) -> Session:
    """A new session from a JSON export: new ids; same content, metadata, metrics and order."""
    # a 100k-message import makes millions of objects: the collector's full passes over them
    # stalled every thread, Jupyter's event loop included (gc_pause.py, bench/bench_import.py)
    with gc_paused():
        return _import(db, data, max_content_chars=max_content_chars)


def _import(db: Database, data: str | bytes | dict[str, Any], *, max_content_chars: int | None) -> Session:
    doc = parse_document(data, max_content_chars=max_content_chars or DEFAULT_MAX_CONTENT_CHARS)
    session_id = uuid.uuid4().hex
    # everything but the ids is built before the lock: checks, signatures, Arrow columns
    batch = message_batch(
        session_id, [m.row for m in doc.messages], [signature(m.row.content) for m in doc.messages]
    )
    position = {m.old_id: i for i, m in enumerate(doc.messages) if m.old_id is not None}
    parents = [None if m.old_parent_id is None else position[m.old_parent_id] for m in doc.messages]
    measured = [(i, m.metrics) for i, m in enumerate(doc.messages) if m.metrics is not None]
    now = val.now()
    with db.lock, db.tx() as con:
        ids = allocate_ids(con, len(doc.messages))
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
        insert_messages(con, batch, ids, now=now, parent_positions=parents)
        if doc.old_head_id is not None:
            con.execute(
                "UPDATE sessions SET head_id = ? WHERE id = ?", [ids[position[doc.old_head_id]], session_id]
            )
        upsert_metrics(con, session_id, [ids[i] for i, _ in measured], [x for _, x in measured])
    with db.lock:
        return rows.get_session(db.con, session_id)
