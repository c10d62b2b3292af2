"""The user's reply to an agent's tool call: ``POST /chat-ext/tool-calls/{call_id}``.

Body ``{"decision": "approve"|"always"|"deny", "result": {"content", "is_error"} | null,
"token": <the approval_token of the call's tool_call event>}`` (403 without it). The chat
stream that made the call waits on it (chat/approvals.py); this route only hands the reply over,
so it answers at once: 200 accepted, 404 unknown or finished call, 409 decided already, 400 a bad
body (a result for a server tool, none for an approved client tool). It needs the ``execute``
permission, like the chat route: approving a call runs a tool.
"""

from __future__ import annotations

from jupyter_chat_ext.errors import InvalidInput

from .base import EXECUTE, ChatExtHandler, requires


class ToolCallHandler(ChatExtHandler):
    @requires(EXECUTE)
    async def post(self, call_id: str) -> None:
        data = self.json_body()
        unknown = sorted(set(data) - {"decision", "result", "token"})
        if unknown:
            raise InvalidInput(
                f"unknown fields {unknown}: send decision, token and, for a client tool, result"
            )
        core = await self.core()
        # the broker only takes a lock and schedules the waiting turn: no thread needed
        reply = core.chat.reply_tool_call(
            call_id, data.get("decision"), data.get("result"), data.get("token")
        )
        self.send_json(reply)
