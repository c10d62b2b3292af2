"""Validation of a session export being imported: every field, before anything is written.

The checks are those of every other write (``values``) plus what only a document can get wrong:
ids and parent links of any JSON type, nesting 50k deep, dates past year 9999 once in UTC, token
counts beyond INTEGER, lone surrogates anywhere that is stored. Each failure is an InvalidInput
naming the field (``messages[3].metadata.a.b``), so an import either writes everything or nothing,
and nothing it writes can break a later read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InvalidInput
from . import values as val
from .export import FORMAT_NAME, FORMAT_VERSION
from .schema import ROLES, STATUSES
from .writes import NewMessage

#: the chat door's default (Settings.max_content_chars); callers pass their own
DEFAULT_MAX_CONTENT_CHARS = 200_000
MAX_IMPORT_MESSAGES = 100_000
MAX_ID_CHARS = 200


@dataclass(frozen=True)
class ImportedMessage:
    old_id: int | str | None
    old_parent_id: int | str | None
    row: NewMessage  # parent_id is filled in once the new ids are known
    metrics: list[Any] | None  # checked values in values.METRIC_FIELDS order


@dataclass(frozen=True)
class ImportDocument:
    title: str | None
    model: str | None
    system_prompt: str | None
    params_json: str
    pinned: bool
    created_at: Any  # naive UTC datetime or None
    messages: list[ImportedMessage]
    #: the file's id of the last user message of the branch shown (None: the newest)
    old_head_id: int | str | None = None


def _load(data: str | bytes | dict[str, Any]) -> Any:
    if isinstance(data, (str, bytes)):
        try:
            return json.loads(data)
        except RecursionError as exc:
            raise InvalidInput("import data is nested too deeply to be a session export") from exc
        except ValueError as exc:
            raise InvalidInput(f"import data is not valid JSON: {exc}") from exc
    return data


def _link_id(value: Any, name: str) -> int | str | None:
    """An id inside the file (it only links messages to each other): null, an integer or a string."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput(f"{name} must be an integer, a string or null, got {type(value).__name__}")
    if isinstance(value, int):
        return val.check_int(value, name, minimum=-val.MAX_BIGINT)
    return val.check_str(value, name, max_chars=MAX_ID_CHARS)


def _map(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is not None and not isinstance(value, dict):
        raise InvalidInput(f"{where}.{key} must be an object")
    return val.dump(value, f"{where}.{key}")


def _metrics(value: Any, where: str) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} must be an object or null")
    for key in ("prompt_tokens", "completion_tokens"):
        if value.get(key) is None:
            raise InvalidInput(f"{where}.{key} is required")
    try:
        return val.check_metrics(value)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}") from exc


def _message(m: Any, where: str, max_content_chars: int, now: Any) -> ImportedMessage:
    if not isinstance(m, dict):
        raise InvalidInput(f"{where} must be an object")
    role = m.get("role")
    if not isinstance(role, str) or role not in ROLES:
        raise InvalidInput(f"{where}.role must be one of {', '.join(ROLES)}")
    content = m.get("content")
    if not isinstance(content, str):
        raise InvalidInput(f"{where}.content must be a string")
    if len(content) > max_content_chars:
        raise InvalidInput(f"{where}.content is {len(content)} characters; the limit is {max_content_chars}")
    status = m.get("status", "complete")
    if not isinstance(status, str) or status not in STATUSES:
        raise InvalidInput(f"{where}.status must be one of {', '.join(STATUSES)}")
    metadata_json = _map(m, "metadata", where)  # checked first: the tool links below read it
    val.check_tool_metadata(role, m.get("metadata"), f"{where}.metadata")
    row = NewMessage(
        role=role,
        content=val.check_utf8(content, f"{where}.content"),
        model=val.check_str(m.get("model"), f"{where}.model", max_chars=500),
        params_json=_map(m, "params", where),
        parent_id=None,
        # an answer exported mid-stream is no longer streaming once imported
        status="interrupted" if status == "streaming" else status,
        metadata_json=metadata_json,
        created_at=val.parse_timestamp(m.get("created_at"), f"{where}.created_at") or now,
        tokens=val.check_tokens(m.get("tokens"), f"{where}.tokens"),
    )
    return ImportedMessage(
        old_id=_link_id(m.get("id"), f"{where}.id"),
        old_parent_id=_link_id(m.get("parent_id"), f"{where}.parent_id"),
        row=row,
        metrics=_metrics(m.get("metrics"), f"{where}.metrics"),
    )


def parse_document(
    data: str | bytes | dict[str, Any], *, max_content_chars: int = DEFAULT_MAX_CONTENT_CHARS
) -> ImportDocument:
    """Validate an export document completely; InvalidInput names the first problem found."""
    data = _load(data)
    if not isinstance(data, dict):
        raise InvalidInput("import data must be a JSON object (a session export)")
    if data.get("format") != FORMAT_NAME:
        raise InvalidInput(f"not a session export: format must be {FORMAT_NAME!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInput("export version must be a positive integer")
    if version > FORMAT_VERSION:
        raise InvalidInput(
            f"export format version {version} is newer than this package reads ({FORMAT_VERSION})"
        )
    sess = data.get("session")
    if not isinstance(sess, dict):
        raise InvalidInput("session must be an object")
    title = val.check_str(sess.get("title"), "session.title", max_chars=val.MAX_TITLE_CHARS)
    pinned = sess.get("pinned", False)
    if not isinstance(pinned, bool):
        raise InvalidInput("session.pinned must be true or false")
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list):
        raise InvalidInput("messages must be a list")
    if len(raw_messages) > MAX_IMPORT_MESSAGES:
        raise InvalidInput(f"an export holds at most {MAX_IMPORT_MESSAGES} messages, got {len(raw_messages)}")
    now = val.now()
    messages = [_message(m, f"messages[{i}]", max_content_chars, now) for i, m in enumerate(raw_messages)]
    seen: set[int | str] = set()
    for i, m in enumerate(messages):
        if m.old_id is not None:
            if m.old_id in seen:
                raise InvalidInput(f"messages[{i}].id {m.old_id!r} appears twice")
            seen.add(m.old_id)
    for i, m in enumerate(messages):
        if m.old_parent_id is not None and m.old_parent_id not in seen:
            raise InvalidInput(f"messages[{i}].parent_id {m.old_parent_id!r} names no message of this export")
    if version < 2:
        messages = _linked_in_order(messages)
    head = _link_id(sess.get("head_id"), "session.head_id")
    if head is not None and head not in seen:
        raise InvalidInput(f"session.head_id {head!r} names no message of this export")
    return ImportDocument(
        title=(title.strip() or None) if title is not None else None,
        model=val.check_str(sess.get("model"), "session.model", max_chars=500),
        system_prompt=val.check_str(
            sess.get("system_prompt"), "session.system_prompt", max_chars=max_content_chars
        ),
        params_json=_map(sess, "params", "session"),
        pinned=pinned,
        created_at=val.parse_timestamp(sess.get("created_at"), "session.created_at"),
        messages=messages,
        old_head_id=head,
    )


def _linked_in_order(messages: list[ImportedMessage]) -> list[ImportedMessage]:
    """A version 1 export was one thread: each user message follows the one before it."""
    out: list[ImportedMessage] = []
    previous: int | str | None = None
    for m in messages:
        if m.row.role == "user":
            if m.old_parent_id is None and previous is not None:
                m = replace(m, old_parent_id=previous)
            previous = m.old_id if m.old_id is not None else previous
        out.append(m)
    return out
