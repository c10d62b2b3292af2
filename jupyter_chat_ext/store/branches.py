"""Conversation branches: which messages form the thread shown, and where it forks.

Every message has a parent link (schema v5): a user message points at the user message of the
turn before it on its branch (NULL for the first turn), an answer at the user message it answers
(answers sharing a parent are versions of one turn), a tool row or a later agent step at the
answer that called. Editing a user message adds a sibling (same parent) instead of overwriting
it, so the old branch keeps its later turns and answer versions.

The thread shown is the path of user messages from the root to the session's ``head_id`` (the last
user message of the branch shown; NULL: the newest user message), each with the rest of its turn.
User messages are linked to the previous *user* message rather than to one answer version so that
paging through answer versions (‹ i/n › on an answer) never changes the turns that follow it.

The functions below work on ``(id, role, parent_id)`` triples of one session, ordered by id (a
parent always has a lower id than its children: it was written first, and an import keeps order).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import duckdb

Row = tuple[int, str, "int | None"]


class BranchInfo(TypedDict):
    """Where a user message sits among its siblings (the edits of one turn), 1-based."""

    index: int
    count: int
    prev: int | None
    next: int | None


def session_rows(con: duckdb.DuckDBPyConnection, session_id: str) -> list[Row]:
    # equality on session_id alone, so DuckDB serves it from messages_session_idx
    found = con.execute(
        "SELECT id, role, parent_id FROM messages WHERE session_id = ?", [session_id]
    ).fetchall()
    return sorted((int(r[0]), str(r[1]), r[2]) for r in found)


def stored_head(con: duckdb.DuckDBPyConnection, session_id: str) -> int | None:
    row = con.execute("SELECT head_id FROM sessions WHERE id = ?", [session_id]).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _users(rows: Sequence[Row]) -> dict[int, int | None]:
    return {mid: parent for mid, role, parent in rows if role == "user"}


def _children(users: dict[int, int | None]) -> dict[int | None, list[int]]:
    out: dict[int | None, list[int]] = {}
    for mid, parent in users.items():  # ascending ids: each list is oldest first
        out.setdefault(parent if parent in users else None, []).append(mid)
    return out


def resolve_head(rows: Sequence[Row], head: int | None) -> int | None:
    """The last user message of the branch shown: ``head`` when it is a user message of these
    rows, else the newest user message (None for a session without one)."""
    users = _users(rows)
    if head in users:
        return head
    return max(users) if users else None


def chain(rows: Sequence[Row], head: int | None) -> list[int]:
    """User message ids from the root to ``head`` (resolved), oldest first."""
    users = _users(rows)
    out: list[int] = []
    seen: set[int] = set()
    cur = resolve_head(rows, head)
    while cur is not None and cur in users and cur not in seen:  # `seen`: a cycle ends it
        out.append(cur)
        seen.add(cur)
        cur = users[cur]
    return out[::-1]


def owners(rows: Sequence[Row]) -> dict[int, int | None]:
    """Each message -> the user message whose turn it belongs to (a user message owns itself).

    A row whose parent link was cleared (its parent deleted before v5) belongs to the nearest
    earlier user message, as it did when the thread was one list."""
    owner: dict[int, int | None] = {}
    last_user: int | None = None
    for mid, role, parent in rows:
        if role == "user":
            owner[mid] = last_user = mid
        elif parent is not None and parent in owner:
            owner[mid] = owner[parent]
        else:
            owner[mid] = last_user
    return owner


def path_ids(rows: Sequence[Row], head: int | None) -> list[int]:
    """The ids of the thread shown (ascending): the turns of ``chain(rows, head)``, plus rows that
    belong to no turn (e.g. a system row before the first question)."""
    on_path = set(chain(rows, head))
    owner = owners(rows)
    return [mid for mid, _, _ in rows if owner[mid] is None or owner[mid] in on_path]


def branch_info(rows: Sequence[Row], ids: Sequence[int]) -> dict[int, BranchInfo]:
    """For each user message of ``ids`` that has siblings: its place among them."""
    users = _users(rows)
    children = _children(users)
    out: dict[int, BranchInfo] = {}
    for mid in ids:
        if mid not in users:
            continue
        parent = users[mid]
        siblings = children.get(parent if parent in users else None, [])
        if len(siblings) < 2:
            continue
        i = siblings.index(mid)
        out[mid] = {
            "index": i + 1,
            "count": len(siblings),
            "prev": siblings[i - 1] if i > 0 else None,
            "next": siblings[i + 1] if i < len(siblings) - 1 else None,
        }
    return out


def leaf_under(rows: Sequence[Row], user_id: int) -> int:
    """The newest branch's last user message below ``user_id`` (itself when nothing follows):
    where the thread goes when the user switches to that branch."""
    children = _children(_users(rows))
    cur = user_id
    seen = {cur}
    while children.get(cur):
        cur = children[cur][-1]
        if cur in seen:
            break
        seen.add(cur)
    return cur


def turn_ids(rows: Sequence[Row], user_id: int) -> list[int]:
    """The rows of one turn: the user message and everything it owns (answers, tool rows)."""
    owner = owners(rows)
    return [mid for mid, _, _ in rows if owner[mid] == user_id]


def with_branches(messages: list[Any], info: dict[int, BranchInfo]) -> list[Any]:
    """Messages with ``branch`` set on user messages that have siblings (None elsewhere)."""
    for m in messages:
        if m["role"] == "user":
            m["branch"] = info.get(m["id"])
    return messages
