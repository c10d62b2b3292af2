"""Message rows: add, read, list, update, delete; metrics; the life of a streamed answer.

A streamed answer is a row with status ``streaming``: ``checkpoint_message`` saves its text about
once a second with one UPDATE (no search signature, no session counters: measured in
bench/bench_store.py ``durability.checkpoint``), ``finish_message`` writes the final state in one transaction,
and ``recover_streaming`` (on open) turns rows a crash left ``streaming`` into ``interrupted``.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from ..errors import InvalidInput, NotFound
from . import branches, rows
from . import values as val
from .database import Database
from .search import signature
from .signature_index import MAX_LIST_LIMIT
from .types import Message
from .writes import (
    NewMessage,
    allocate_ids,
    insert_messages,
    message_batch,
    replace_metrics,
    replace_search_row,
)


class Messages:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
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
        """A user message without ``parent_id`` follows the branch shown (its last user message);
        ``fork=True`` takes ``parent_id`` as given (None: a new first turn), so the message
        starts a branch beside its siblings (an edit). Either way it becomes the branch shown."""
        now = val.now()
        val.check_tool_metadata(val.check_role(role), metadata)
        row = NewMessage(
            role=role,
            content=val.check_str(content, "content", allow_none=False),
            model=val.check_name(model, "model"),
            params_json=val.dump(params, "params"),
            parent_id=parent_id,
            status=val.check_status(status),
            metadata_json=val.dump(metadata, "metadata"),
            created_at=now,
            tokens=val.check_tokens(tokens),
        )
        batch = message_batch(session_id, [row], [signature(row.content)])
        with self.db.lock:
            con = self.db.con
            rows.get_session(con, session_id)
            if role == "user" and parent_id is None and not fork:
                found = branches.session_rows(con, session_id)
                parent_id = branches.resolve_head(found, branches.stored_head(con, session_id))
                batch.parent_ids[0] = parent_id
            if parent_id is not None:
                parent = rows.get_message(con, parent_id)
                if parent["session_id"] != session_id:
                    raise InvalidInput(f"parent message {parent_id} belongs to another session")
            with self.db.tx() as con:
                (message_id,) = allocate_ids(con, 1)
                insert_messages(con, batch, [message_id], now=now)
                if role == "user":  # the newest user message is the head: the branch shown
                    con.execute("UPDATE sessions SET head_id = NULL WHERE id = ?", [session_id])
        return {
            "id": message_id,
            "session_id": session_id,
            "role": row.role,  # type: ignore[typeddict-item]
            "content": row.content,
            "model": row.model,
            "params": json.loads(row.params_json),
            "parent_id": parent_id,
            "status": row.status,  # type: ignore[typeddict-item]
            "metadata": json.loads(row.metadata_json),
            "created_at": val.iso(now) or "",
            "tokens": row.tokens,
            "metrics": None,
        }

    def update(
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
        with self.db.lock:
            current = rows.get_message(self.db.con, message_id)
            val.check_tool_metadata(current["role"], metadata)
            if not sets:
                return current
            with self.db.tx() as con:
                con.execute(f"UPDATE messages SET {', '.join(sets)} WHERE id = ?", [*values, message_id])
                if content is not None and content != current["content"]:
                    replace_search_row(con, message_id, current["session_id"], content)
                con.execute(
                    "UPDATE sessions SET updated_at = ? WHERE id = ?", [val.now(), current["session_id"]]
                )
            return rows.get_message(self.db.con, message_id)

    def get(self, message_id: int) -> Message:
        with self.db.lock:
            return rows.get_message(self.db.con, message_id)

    def list(
        self, session_id: str, before: int | None = None, limit: int = 100, through: int | None = None
    ) -> list[Message]:
        """The thread shown (store/branches.py), or with ``through`` (a user message id) the
        branch that leads to that message; user messages with siblings carry ``branch``."""
        limit = val.check_int(limit, "limit", minimum=1, maximum=MAX_LIST_LIMIT)
        if before is not None:
            before = val.check_int(before, "before", minimum=0)
        if through is not None:
            through = val.check_message_id(through)
        with self.db.lock:
            con = self.db.con
            found = branches.session_rows(con, val.check_session_id(session_id))
            if not found:
                rows.get_session(con, session_id)  # NotFound for an unknown id; else simply empty
            head = through if through is not None else branches.stored_head(con, session_id)
            ids = branches.path_ids(found, head)
            if before is not None:
                ids = [i for i in ids if i < before]
            page = rows.messages_by_ids(con, ids[-limit:])
            return branches.with_branches(page, branches.branch_info(found, [m["id"] for m in page]))

    def switch_branch(self, session_id: str, message_id: int) -> int:
        """Show the branch of user message ``message_id`` (its newest continuation); returns the
        new head (the last user message of the branch now shown)."""
        message_id = val.check_message_id(message_id)
        with self.db.lock:
            rows.get_session(self.db.con, session_id)
            message = rows.get_message(self.db.con, message_id)
            if message["session_id"] != session_id:
                raise NotFound(f"message {message_id} is not in session {session_id}")
            if message["role"] != "user":
                raise InvalidInput("a branch starts at a user message", code="not_a_branch")
            head = branches.leaf_under(branches.session_rows(self.db.con, session_id), message_id)
            with self.db.tx() as con:
                con.execute("UPDATE sessions SET head_id = ? WHERE id = ?", [head, session_id])
            return head

    def _delete(self, con: duckdb.DuckDBPyConnection, session_id: str, ids: list[int]) -> None:
        row = con.execute(
            "SELECT coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0) FROM metrics "
            "WHERE message_id IN (SELECT unnest(?::BIGINT[]))",
            [ids],
        ).fetchone()
        prompt, completion = (int(row[0]), int(row[1])) if row else (0, 0)
        # a deleted user message's later turns move up to its parent: the branch stays one thread
        for mid in sorted(ids):
            found = con.execute("SELECT role, parent_id FROM messages WHERE id = ?", [mid]).fetchone()
            if found is not None and found[0] == "user":
                con.execute(
                    "UPDATE messages SET parent_id = ? WHERE parent_id = ? AND role = 'user'", [found[1], mid]
                )
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

    def delete(self, message_id: int) -> None:
        with self.db.lock:
            message = rows.get_message(self.db.con, message_id)
            with self.db.tx() as con:
                self._delete(con, message["session_id"], [message["id"]])

    def delete_after(self, session_id: str, message_id: int) -> int:
        with self.db.lock:
            rows.get_session(self.db.con, session_id)
            message = rows.get_message(self.db.con, message_id)
            if message["session_id"] != session_id:
                raise NotFound(f"message {message_id} is not in session {session_id}")
            # only the rest of that message's own turn (an agent's later steps and tool rows):
            # other turns and branches stay, whichever branch is shown meanwhile
            found = branches.session_rows(self.db.con, session_id)
            owner = branches.owners(found)
            ids = [i for i, _, _ in found if i > message_id and owner[i] == owner[message_id]]
            if ids:
                with self.db.tx() as con:
                    self._delete(con, session_id, ids)
            return len(ids)

    def add_metrics(self, message_id: int, metrics: dict[str, Any]) -> None:
        values = val.check_metrics(metrics)
        with self.db.lock:
            message = rows.get_message(self.db.con, message_id)
            with self.db.tx() as con:
                replace_metrics(con, message, values)

    # -- streamed answers ------------------------------------------------------------------------
    def checkpoint(self, message_id: int, content: str, completion_tokens: int) -> None:
        message_id = val.check_message_id(message_id)
        content = val.check_str(content, "content", allow_none=False)
        completion_tokens = val.check_int(completion_tokens, "completion_tokens", maximum=val.MAX_TOKENS)
        with self.db.lock:
            row = self.db.one(
                "UPDATE messages SET content = ?, tokens = ? WHERE id = ? AND status = 'streaming'",
                [content, completion_tokens, message_id],
            )
            if row is not None and row[0] == 0:
                rows.get_message(self.db.con, message_id)  # NotFound if unknown; else not streaming

    def finish(
        self,
        message_id: int,
        *,
        content: str,
        status: str,
        metadata: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        tokens: int | None = None,
    ) -> Message:
        content = val.check_str(content, "content", allow_none=False)
        status = val.check_status(status)
        metadata_json = val.dump(metadata, "metadata")
        tokens = val.check_tokens(tokens)
        metric_values = None if metrics is None else val.check_metrics(metrics)
        with self.db.lock:
            current = rows.get_message(self.db.con, message_id)
            val.check_tool_metadata(current["role"], metadata)
            with self.db.tx() as con:
                con.execute(
                    "UPDATE messages SET content = ?, status = ?, metadata = ?, tokens = ? WHERE id = ?",
                    [content, status, metadata_json, tokens, current["id"]],
                )
                replace_search_row(con, current["id"], current["session_id"], content)
                if metric_values is not None:
                    replace_metrics(con, current, metric_values)
                con.execute(
                    "UPDATE sessions SET updated_at = ? WHERE id = ?", [val.now(), current["session_id"]]
                )
            return rows.get_message(self.db.con, message_id)

    def recover_streaming(self) -> int:
        """Rows a crash left ``streaming`` become ``interrupted`` (metadata.finish_reason "crashed"),
        keeping their last checkpointed text; their search rows are dropped so that the next
        ``SignatureIndex.sync`` signs the text they have now. Returns how many."""
        with self.db.lock:
            found = self.db.con.execute(
                "SELECT id, metadata FROM messages WHERE status = 'streaming'"
            ).fetchall()
            if not found:
                return 0
            with self.db.tx() as con:
                for mid, meta in found:
                    metadata = {**val.load(meta), "finish_reason": "crashed"}
                    con.execute(
                        "UPDATE messages SET status = 'interrupted', metadata = ? WHERE id = ?",
                        [json.dumps(metadata, ensure_ascii=False), mid],
                    )
                con.execute(
                    "DELETE FROM message_search WHERE message_id IN (SELECT unnest(?::BIGINT[]))",
                    [[r[0] for r in found]],
                )
            return len(found)
