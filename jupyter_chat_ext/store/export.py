"""Session export (JSON document, Markdown transcript) and validation of an import document.

JSON format (``format`` = FORMAT_NAME, ``version`` = FORMAT_VERSION)::

    {"format": "jupyter-chat-ext.session", "version": 1, "exported_at": iso,
     "session": {"id", "title", "model", "system_prompt", "params", "pinned", "created_at", "updated_at"},
     "messages": [{"id", "role", "content", "model", "params", "parent_id", "status", "metadata",
                   "created_at", "metrics": {...} | null}, ...]}     # oldest first

``id``/``parent_id`` inside the file only link messages to each other; an import gives new ids.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ..errors import InvalidInput
from .schema import ROLES, STATUSES

FORMAT_NAME = "jupyter-chat-ext.session"
FORMAT_VERSION = 1
SESSION_EXPORT_FIELDS = (
    "id",
    "title",
    "model",
    "system_prompt",
    "params",
    "pinned",
    "created_at",
    "updated_at",
)
MESSAGE_EXPORT_FIELDS = (
    "id",
    "role",
    "content",
    "model",
    "params",
    "parent_id",
    "status",
    "metadata",
    "created_at",
    "metrics",
)
METRIC_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "ttft_s",
    "tokens_per_s",
    "total_s",
    "model",
    "device",
    "finish_reason",
)


def to_document(session: dict[str, Any], messages: list[dict[str, Any]], exported_at: str) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "exported_at": exported_at,
        "session": {k: session.get(k) for k in SESSION_EXPORT_FIELDS},
        "messages": [{k: m.get(k) for k in MESSAGE_EXPORT_FIELDS} for m in messages],
    }


def to_json(session: dict[str, Any], messages: list[dict[str, Any]], exported_at: str) -> str:
    return json.dumps(to_document(session, messages, exported_at), ensure_ascii=False, indent=2)


def _fmt_metrics(m: dict[str, Any]) -> str:
    parts = []
    if m.get("completion_tokens") is not None:
        parts.append(f"{m['completion_tokens']} tokens")
    if m.get("tokens_per_s"):
        parts.append(f"{m['tokens_per_s']:.1f} tok/s")
    if m.get("ttft_s") is not None:
        parts.append(f"first token {m['ttft_s']:.2f} s")
    if m.get("model"):
        parts.append(str(m["model"]))
    if m.get("device"):
        parts.append(str(m["device"]))
    return " · ".join(parts)


def to_markdown(session: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    title = session.get("title") or "Untitled chat"
    lines = [f"# {title}", ""]
    info = [f"created {session.get('created_at')}"]
    if session.get("model"):
        info.append(f"model `{session['model']}`")
    info.append(f"{len(messages)} messages")
    lines += ["_" + " · ".join(info) + "_", ""]
    if session.get("system_prompt"):
        lines += [
            "**System prompt:**",
            "",
            *(f"> {line}" for line in session["system_prompt"].splitlines()),
            "",
        ]
    for m in messages:
        heading = {"user": "User", "assistant": "Assistant", "system": "System"}.get(m["role"], m["role"])
        lines += [f"## {heading}", ""]
        lines += [m["content"] if m["content"] else "_(empty)_", ""]
        notes = []
        if m.get("status") == "interrupted":
            notes.append("interrupted")
        if m.get("status") == "error":
            err = (m.get("metadata") or {}).get("error") or {}
            notes.append(
                f"error: {err.get('message', 'generation failed')}" if isinstance(err, dict) else "error"
            )
        if m.get("metrics"):
            notes.append(_fmt_metrics(m["metrics"]))
        if notes:
            lines += ["_" + " · ".join(n for n in notes if n) + "_", ""]
        citations = (m.get("metadata") or {}).get("citations") or []
        if isinstance(citations, list) and citations:
            lines += ["Sources:", ""]
            for i, c in enumerate(citations, 1):
                if isinstance(c, dict):
                    loc = c.get("location")
                    loc_text = f" ({json.dumps(loc, ensure_ascii=False)})" if loc else ""
                    lines.append(f"{i}. {c.get('source', '?')}{loc_text}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# -- import ---------------------------------------------------------------------------------------


def _opt_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{where}.{key} must be a string or null")
    return value


def _dict(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}.{key} must be an object")
    return value


def _timestamp(obj: dict[str, Any], key: str, where: str) -> datetime | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}.{key} must be an ISO-8601 string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{where}.{key} is not an ISO-8601 timestamp: {value!r}") from exc


def _number(m: dict[str, Any], key: str, where: str, *, integer: bool) -> Any:
    value = m.get(key)
    if value is None:
        if integer:
            raise InvalidInput(f"{where}.{key} is required")
        return None
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or value < 0:
        raise InvalidInput(f"{where}.{key} must be a non-negative {'integer' if integer else 'number'}")
    return value


def parse_document(data: str | bytes | dict[str, Any]) -> dict[str, Any]:
    """Validate an export document; return it normalised (timestamps as datetime, maps as dicts).

    Raises InvalidInput naming the first problem found.
    """
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise InvalidInput(f"import data is not valid JSON: {exc}") from exc
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
    title = _opt_str(sess, "title", "session")
    if title is not None and not title.strip():
        title = None
    pinned = sess.get("pinned", False)
    if not isinstance(pinned, bool):
        raise InvalidInput("session.pinned must be true or false")
    session = {
        "title": title,
        "model": _opt_str(sess, "model", "session"),
        "system_prompt": _opt_str(sess, "system_prompt", "session"),
        "params": _dict(sess, "params", "session"),
        "pinned": pinned,
        "created_at": _timestamp(sess, "created_at", "session"),
    }
    raw_messages = data.get("messages")
    if not isinstance(raw_messages, list):
        raise InvalidInput("messages must be a list")
    messages: list[dict[str, Any]] = []
    seen_ids: set[Any] = set()
    for i, m in enumerate(raw_messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise InvalidInput(f"{where} must be an object")
        role = m.get("role")
        if role not in ROLES:
            raise InvalidInput(f"{where}.role must be one of {', '.join(ROLES)}")
        content = m.get("content")
        if not isinstance(content, str):
            raise InvalidInput(f"{where}.content must be a string")
        status = m.get("status", "complete")
        if status not in STATUSES:
            raise InvalidInput(f"{where}.status must be one of {', '.join(STATUSES)}")
        old_id = m.get("id")
        if old_id is not None:
            if old_id in seen_ids:
                raise InvalidInput(f"{where}.id {old_id!r} appears twice")
            seen_ids.add(old_id)
        metrics = m.get("metrics")
        if metrics is not None:
            if not isinstance(metrics, dict):
                raise InvalidInput(f"{where}.metrics must be an object or null")
            mw = f"{where}.metrics"
            metrics = {
                "prompt_tokens": _number(metrics, "prompt_tokens", mw, integer=True),
                "completion_tokens": _number(metrics, "completion_tokens", mw, integer=True),
                "ttft_s": _number(metrics, "ttft_s", mw, integer=False),
                "tokens_per_s": _number(metrics, "tokens_per_s", mw, integer=False),
                "total_s": _number(metrics, "total_s", mw, integer=False),
                "model": _opt_str(metrics, "model", mw),
                "device": _opt_str(metrics, "device", mw),
                "finish_reason": _opt_str(metrics, "finish_reason", mw),
            }
        messages.append(
            {
                "old_id": old_id,
                "old_parent_id": m.get("parent_id"),
                "role": role,
                "content": content,
                "model": _opt_str(m, "model", where),
                "params": _dict(m, "params", where),
                "status": status,
                "metadata": _dict(m, "metadata", where),
                "created_at": _timestamp(m, "created_at", where),
                "metrics": metrics,
            }
        )
    for m in messages:
        parent = m["old_parent_id"]
        if parent is not None and parent not in seen_ids:
            raise InvalidInput(f"parent_id {parent!r} names no message of this export")
    return {"session": session, "messages": messages}
