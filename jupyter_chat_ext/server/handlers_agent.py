"""The user's reply to an agent's tool call: ``POST /chat-ext/tool-calls/{call_id}``.

Body ``ToolCallReply`` (wire/chat.py): ``{"decision": "approve"|"always"|"deny", "result":
{"content", "is_error"} | null, "token": <the approval_token of the call's tool_call event>}``
(403 without it). The chat stream that made the call waits on it (chat/approvals.py); this route
only hands the reply over, so it answers at once: 200 accepted, 404 unknown or finished call, 409
decided already, 400 a bad body (a result for a server tool, none for an approved client tool).
It needs the ``execute`` permission, like the chat route: approving a call runs a tool.
"""

from __future__ import annotations

from jupyter_chat_ext.wire.chat import ToolCallAccepted, ToolCallReply
from jupyter_chat_ext.wire.ops import op

from .base import EXECUTE, ChatExtHandler, requires


class ToolCallHandler(ChatExtHandler):
    @requires(EXECUTE)
    @op(
        "The user's reply to an agent's tool call (a tool_call event): approve / always / deny; a "
        'client tool (executor "client") is approved with its result. The waiting stream goes on.',
        body=ToolCallReply,
        answer=ToolCallAccepted,
        tag="chat",
        errors=(
            403,
            {404: "no such call is waiting (unknown, or finished / timed out)"},
            {409: "the call was decided already"},
            503,
        ),
        operation_id="replyToolCall",
    )
    async def post(self, call_id: str, body: ToolCallReply) -> None:
        core = await self.core()
        result = body.result.model_dump() if body.result is not None else None
        # the broker only takes a lock and schedules the waiting turn: no thread needed
        self.send_json(core.chat.reply_tool_call(call_id, body.decision, result, body.token))
