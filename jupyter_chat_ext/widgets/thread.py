"""The ChatWidget's thread: stored rows -> what the browser draws, tool calls folded in.

An agent turn stores an assistant row per step (``metadata.tool_calls`` on a step that called
tools) and a ``tool`` row per call (``metadata.tool_call_id``, the result as its content). The
widget shows each call inside the assistant message that made it, with its arguments and result
(the browser folds them), as the sidebar does; the tool rows themselves are not separate bubbles.
The same function draws a live turn (reloaded at each tool event) and a reopened session.
"""

from __future__ import annotations

import json
from typing import Any

from .markdown import markdown_tree

#: how much of a tool result the widget sends to the browser (the store keeps the whole text)
SHOWN_RESULT_CHARS = 4000


def _clip(text: str, limit: int = SHOWN_RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"\n… ({len(text):,} characters in all)"


def pretty_arguments(arguments: Any) -> str:
    """The call's JSON arguments indented for reading; as written when they are not JSON."""
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    try:
        return json.dumps(json.loads(arguments), indent=1, ensure_ascii=False)
    except ValueError:  # the model wrote something else: show exactly that (it read the error)
        return arguments


def call_view(call_id: str, name: str, arguments: Any, result: dict[str, Any] | None) -> dict[str, Any]:
    """One call; ``result`` is its stored tool row (None while it waits or runs)."""
    meta = (result or {}).get("metadata") or {}
    return {
        "id": call_id,
        "name": name,
        "arguments": pretty_arguments(arguments),
        "result": None if result is None else _clip(result.get("content") or ""),
        "is_error": bool(meta.get("is_error")),
        "approval": meta.get("approval"),
    }


def message_view(m: dict[str, Any], calls: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    metrics = m.get("metrics") or {}
    content = m.get("content") or ""
    return {
        "id": m.get("id"),
        "role": m.get("role"),
        "content": content,
        # answers are shown as rendered markdown; what the user typed is shown as typed
        "blocks": markdown_tree(content) if m.get("role") == "assistant" else None,
        "status": m.get("status") or "complete",
        "tokens_per_s": metrics.get("tokens_per_s"),
        "calls": calls or [],
    }


def thread_view(rows: list[dict[str, Any]], *, live: bool = False) -> list[dict[str, Any]]:
    """The views of ``rows`` (oldest first). ``live``: a turn of this widget is running, so its
    row still streaming is left out (the widget draws it from the tokens it receives)."""
    results = {(m.get("metadata") or {}).get("tool_call_id"): m for m in rows if m.get("role") == "tool"}
    folded: set[str] = set()
    out: list[dict[str, Any]] = []
    for m in rows:
        role, meta = m.get("role"), m.get("metadata") or {}
        if role == "system" or (live and m.get("status") == "streaming"):
            continue
        if role == "tool":
            call_id = meta.get("tool_call_id")
            if call_id in folded:
                continue
            # its call is older than the rows loaded: shown on its own, with what the row says
            call = call_view(str(call_id), str(meta.get("name") or "?"), meta.get("arguments") or "", m)
            out.append(message_view({**m, "content": ""}, [call]))
            continue
        calls = []
        for c in meta.get("tool_calls") or [] if role == "assistant" else []:
            fn = c.get("function") or {}
            folded.add(c.get("id"))
            calls.append(
                call_view(
                    str(c.get("id")),
                    str(fn.get("name") or "?"),
                    fn.get("arguments"),
                    results.get(c.get("id")),
                )
            )
        out.append(message_view(m, calls))
    return out
