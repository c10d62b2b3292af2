"""``%%chat --tools``: the tool calls of an agent turn, shown in the cell output as they happen.

A kernel has no one to click "approve" while a cell runs, so a write/execute tool that the
server's ``tool_allowlist`` does not name is denied at once (the model reads the denial and goes
on), with a note saying how to allow it. Read tools and allow-listed ones run in the server
without asking. Only server-side tools are offered (the notebook tools run in the sidebar).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from IPython.display import Markdown, display

from .render import StreamRenderer

TOOL_EVENTS = ("tool_call", "tool_result", "step")
#: how much of a result the output shows (the whole text is stored in the session)
SHOWN_RESULT_CHARS = 400
DENIED_NOTE = (
    "`{name}` {effect}s and needs approval: denied. Add it to `c.ChatExtApp.tool_allowlist` "
    "to let `%%chat --tools` run it."
)

#: the ``tools`` field of a %%chat --tools turn: every enabled server tool, none in the client
KERNEL_TOOLS: dict[str, Any] = {"names": None, "client": []}


def _clip(text: str, limit: int = SHOWN_RESULT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


class ToolCallView:
    """Shows each call and result; denies what needs approval; a new step gets a new display."""

    def __init__(self, client: Any, fmt: str) -> None:
        self.client = client
        self.fmt = fmt
        self.calls: list[dict[str, Any]] = []  # what ran, for the magic's ``last``

    def _show(self, text: str) -> None:
        if self.fmt == "text":
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        else:
            display(Markdown(text))

    def handle(self, event: dict[str, Any], renderer: StreamRenderer) -> StreamRenderer:
        """Show one tool event; returns the renderer the next tokens go to."""
        kind = event.get("type")
        if kind == "tool_call":
            name, args = event.get("name", "?"), event.get("arguments", "")
            self._show(f"🔧 `{name}({_clip(_compact(args), 200)})`")
            if event.get("approval") == "required":
                self._deny(event)
        elif kind == "tool_result":
            self.calls.append(event)
            mark = "⚠️" if event.get("is_error") else "↳"
            self._show(f"{mark} `{event.get('name', '?')}` → {_clip(str(event.get('content', '')))}")
        elif kind == "step":  # the model answers again below the calls: a display of its own
            renderer.finish()
            renderer = StreamRenderer(self.fmt)
            renderer.start()
        return renderer

    def _deny(self, event: dict[str, Any]) -> None:
        from ..errors import ChatExtError

        try:
            self.client.reply_tool_call(event["call_id"], "deny", token=event.get("approval_token"))
        except ChatExtError:  # the turn ended meanwhile (stopped, timed out): nothing to deny
            return
        effect = event.get("effect") or "write"
        self._show("⛔ " + DENIED_NOTE.format(name=event.get("name", "?"), effect=effect))


def _compact(arguments: str) -> str:
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    if isinstance(parsed, dict):
        return ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.items())
    return arguments
