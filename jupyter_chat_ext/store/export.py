"""Session export: the JSON document and the Markdown transcript (pure functions, no I/O).

An import of the JSON document is validated by :mod:`.import_doc` and written by :mod:`.transfer`.

JSON format (``format`` = FORMAT_NAME, ``version`` = FORMAT_VERSION)::

    {"format": "jupyter-chat-ext.session", "version": 2, "exported_at": iso,
     "session": {"id", "title", "model", "system_prompt", "params", "pinned", "created_at", "updated_at",
                 "head_id"},
     "messages": [{"id", "role", "content", "model", "params", "parent_id", "status", "metadata",
                   "created_at", "tokens", "metrics": {...} | null}, ...]}     # oldest first

``id``/``parent_id``/``head_id`` inside the file only link messages to each other; an import gives
new ids. Version 2 keeps every branch (store/branches.py): a user message's ``parent_id`` is the
user message of the turn before it on its branch, ``head_id`` the last one of the branch shown.
A version 1 file was one thread: its user messages are linked in order on import.
"""

from __future__ import annotations

import json
from typing import Any

FORMAT_NAME = "jupyter-chat-ext.session"
FORMAT_VERSION = 2
SESSION_EXPORT_FIELDS = (
    "id",
    "title",
    "model",
    "system_prompt",
    "params",
    "pinned",
    "created_at",
    "updated_at",
    "head_id",
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
    "tokens",
    "metrics",
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


def _tool_note(meta: dict[str, Any]) -> list[str]:
    notes = [f"approval: {meta['approval']}"] if meta.get("approval") else []
    if meta.get("is_error"):
        notes.append("error")
    return ["_" + " · ".join(notes) + "_", ""] if notes else []


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
        meta = m.get("metadata") or {}
        if m["role"] == "tool":  # an agent's tool result: which call, then its text as a block
            lines += [f"## Tool `{meta.get('name', '?')}`", "", *_tool_note(meta)]
            lines += ["```", m["content"], "```", ""]
            continue
        lines += [f"## {heading}", ""]
        calls = meta.get("tool_calls") if m["role"] == "assistant" else None
        if m["content"] or not calls:
            lines += [m["content"] if m["content"] else "_(empty)_", ""]
        for call in calls if isinstance(calls, list) else []:
            fn = (call.get("function") if isinstance(call, dict) else None) or {}
            lines += [f"_calls `{fn.get('name', '?')}` with `{fn.get('arguments', '')}`_", ""]
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
