"""Sessions, messages, export/import, history search, and the chat / regenerate SSE streams."""

from __future__ import annotations

import re
from typing import Any

from jupyter_chat_ext.errors import InvalidInput, NotFound, Unavailable
from jupyter_chat_ext.wire.ops import op
from jupyter_chat_ext.wire.sessions import Session, SessionCreate, SessionList, SessionQuery, SessionUpdate

from .base import EXECUTE, READ, WRITE, ChatExtHandler, requires
from .streaming import StreamingHandler
from .validation import opt_bool, opt_dict, or_none, rag_spec, req_str


class SessionsHandler(ChatExtHandler):
    @requires(READ)
    @op("List sessions, newest first", query=SessionQuery, answer=SessionList, tag="sessions")
    async def get(self, query: SessionQuery) -> None:
        core = await self.core()

        def work() -> tuple[Any, Any]:
            sessions = core.chat.list_sessions(q=query.q or None, limit=query.limit, offset=query.offset)
            return sessions, core.chat.count_sessions(q=query.q or None)

        sessions, total = await self.blocking(work)
        self.send_json({"sessions": sessions, "total": total})

    @requires(WRITE)
    @op(
        "Create a session", body=SessionCreate, body_optional=True, answer=Session, status=201, tag="sessions"
    )
    async def post(self, body: SessionCreate) -> None:
        core = await self.core()
        session = await self.blocking(lambda: core.chat.create_session(**body.given()))
        self.send_json(session, status=201)


class SessionHandler(ChatExtHandler):
    @requires(READ)
    @op("A session", answer=Session, tag="sessions")
    async def get(self, session_id: str) -> None:
        core = await self.core()
        self.send_json(await self.blocking(core.chat.get_session, session_id))

    @requires(WRITE)
    @op(
        "Change a session's title, model, system prompt, params or pin",
        body=SessionUpdate,
        answer=Session,
        tag="sessions",
    )
    async def patch(self, session_id: str, body: SessionUpdate) -> None:
        fields = body.given()
        if fields.get("pinned", True) is None:
            fields.pop("pinned")  # null pin means "leave it"
        core = await self.core()
        if not fields:
            self.send_json(await self.blocking(core.chat.get_session, session_id))
            return
        session = await self.blocking(lambda: core.chat.update_session(session_id, **fields))
        self.send_json(session)

    @requires(WRITE)
    @op("Delete a session and its messages", status=204, tag="sessions")
    async def delete(self, session_id: str) -> None:
        core = await self.core()
        await self.blocking(core.chat.delete_session, session_id)
        self.send_empty()


class MessagesHandler(ChatExtHandler):
    @requires(READ)
    async def get(self, session_id: str) -> None:
        before = self.query_int("before", None, lo=0, hi=2**62)
        limit = self.query_int("limit", 100, lo=1, hi=1000)
        assert limit is not None
        core = await self.core()

        def work() -> tuple[list[Any], bool]:
            messages = list(core.chat.list_messages(session_id, before=before, limit=limit))
            if len(messages) < limit:
                return messages, False
            older = core.chat.list_messages(session_id, before=messages[0]["id"], limit=1)
            return messages, bool(older)

        messages, has_more = await self.blocking(work)
        self.send_json({"messages": messages, "has_more": has_more})


async def owned_message(handler: ChatExtHandler, core: Any, session_id: str, raw_id: str) -> int:
    """The id of message ``raw_id`` of session ``session_id``; NotFound for one of another session."""
    message_id = handler.message_id(raw_id)

    def check() -> None:
        if core.chat.get_message(message_id)["session_id"] != session_id:
            raise NotFound(f"no message {message_id} in session {session_id}")

    await handler.blocking(check)
    return message_id


class MessageHandler(StreamingHandler):
    @requires(WRITE)
    async def patch(self, session_id: str, raw_id: str) -> None:
        data = self.json_body()
        content = req_str(data, "content", max_len=self.chat_app.max_content_chars)
        resend = opt_bool(data, "resend")
        params = or_none(opt_dict(data, "params"))
        if resend is True:  # editing is a write; resending also runs the model
            await self.authorize(EXECUTE)
        core = await self.core()
        message_id = await owned_message(self, core, session_id, raw_id)
        if resend is True:
            events = core.chat.edit_and_resend(message_id, content, params=params or None)
            await stream_turn(self, events)
            return
        message = await self.blocking(core.chat.edit_message, message_id, content)
        self.send_json(message)

    @requires(WRITE)
    async def delete(self, session_id: str, raw_id: str) -> None:
        core = await self.core()
        message_id = await owned_message(self, core, session_id, raw_id)
        await self.blocking(core.chat.delete_message, message_id)
        self.send_empty()


class BranchHandler(ChatExtHandler):
    """``POST sessions/{id}/messages/{mid}/branch``: show the branch of user message ``mid`` (one
    of the edits of a turn, see store/branches.py); answers ``{"head_id"}``, the last user
    message of the branch now shown. 400 ``not_a_branch`` for a message that is not a user's."""

    @requires(WRITE)
    async def post(self, session_id: str, raw_id: str) -> None:
        core = await self.core()
        head = await self.blocking(core.chat.switch_branch, session_id, self.message_id(raw_id))
        self.send_json({"head_id": head})


async def stream_turn(handler: StreamingHandler, events: Any) -> None:
    """Answer with the events of one turn as text/event-stream."""
    await handler.stream_sse(events, message_id=None)


class ChatHandler(StreamingHandler):
    @requires(EXECUTE)
    async def post(self, session_id: str) -> None:
        data = self.json_body()
        content = req_str(data, "content", max_len=self.chat_app.max_content_chars)
        params = or_none(opt_dict(data, "params"))
        rag = rag_spec(data.get("rag"))
        core = await self.core()
        if rag is not None and core.rag is None:
            raise Unavailable(core.rag_error or "RAG not available")
        # "tools" (an agent turn) is checked by the core: a bad one is a 400 before any write
        tools = data.get("tools")
        extra = {"tools": tools} if tools is not None else {}
        if data.get("context") is not None:  # attached context: validated by the core (inputs.context)
            extra["context"] = data["context"]
        events = core.chat.chat(session_id, content, params=params or None, rag=rag, **extra)
        await stream_turn(self, events)


class RegenerateHandler(StreamingHandler):
    @requires(EXECUTE)
    async def post(self, session_id: str) -> None:
        params = or_none(opt_dict(self.json_body(required=False), "params"))
        core = await self.core()
        events = core.chat.regenerate(session_id, params=params or None)
        await stream_turn(self, events)


class ContinueHandler(StreamingHandler):
    """``POST sessions/{id}/messages/{mid}/continue``: continue an interrupted answer (SSE; 409
    ``not_interrupted`` for any other message). The new text is appended to that message."""

    @requires(EXECUTE)
    async def post(self, session_id: str, raw_id: str) -> None:
        params = or_none(opt_dict(self.json_body(required=False), "params"))
        core = await self.core()
        message_id = await owned_message(self, core, session_id, raw_id)
        await stream_turn(self, core.chat.continue_answer(message_id, params=params or None))


class ExportHandler(ChatExtHandler):
    @requires(READ)
    async def get(self, session_id: str) -> None:
        fmt = self.query_str("format", "json", max_len=20)
        if fmt in ("md",):
            fmt = "markdown"
        if fmt not in ("json", "markdown"):
            raise InvalidInput("format must be 'json' or 'markdown'")
        core = await self.core()

        def work() -> tuple[Any, str]:
            return core.chat.get_session(session_id), core.chat.export_session(session_id, fmt)

        session, text = await self.long_call(work)  # a long history takes a while to render
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(session["title"] or "chat")).strip("-")[:60]
        ext, ctype = ("md", "text/markdown") if fmt == "markdown" else ("json", "application/json")
        filename = f"{slug or 'chat'}-{session_id[:8]}.{ext}"
        self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
        self.finish(text.encode("utf-8"), set_content_type=f"{ctype}; charset=utf-8")


class ImportHandler(ChatExtHandler):
    body_limit_attr = "max_upload_bytes"

    @requires(WRITE)
    async def post(self) -> None:
        data = await self.json_body_off_loop()  # up to max_upload_bytes: parse it off the loop
        core = await self.core()
        session = await self.long_call(core.chat.import_session, data)
        self.send_json(session, status=201)


class HistorySearchHandler(ChatExtHandler):
    """Full-text search over every stored message: ``GET search?q=&limit=``."""

    @requires(READ)
    async def get(self) -> None:
        q = self.query_str("q", max_len=1000)
        if not q or not q.strip():
            raise InvalidInput("query parameter 'q' is required")
        limit = self.query_int("limit", 50, lo=1, hi=500)
        core = await self.core()
        results = await self.blocking(lambda: core.store.search_messages(q, limit=limit))
        self.send_json({"results": results})
