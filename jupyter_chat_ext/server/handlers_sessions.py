"""Sessions, messages, export/import, history search, and the chat / regenerate SSE streams."""

from __future__ import annotations

import re
from typing import Any

from jupyter_chat_ext.errors import NotFound
from jupyter_chat_ext.store.types import Message
from jupyter_chat_ext.wire.chat import (
    BranchHead,
    ChatRequest,
    EditRequest,
    MessagePage,
    MessagesQuery,
    ParamsOnly,
    RegenerateRequest,
    TurnEvent,
)
from jupyter_chat_ext.wire.ops import op
from jupyter_chat_ext.wire.sessions import (
    ExportQuery,
    Session,
    SessionCreate,
    SessionExport,
    SessionImport,
    SessionList,
    SessionQuery,
    SessionUpdate,
)
from jupyter_chat_ext.wire.store import HistoryQuery, SearchResults

from .base import EXECUTE, READ, WRITE, ChatExtHandler, requires
from .streaming import StreamingHandler

#: the OpenAPI links from a new session (schemathesis' stateful phase follows them)
_SESSION_LINKS = {
    name: {"operationId": op_id, "parameters": {"session_id": "$response.body#/id"}}
    for name, op_id in (
        ("GetSession", "getSession"),
        ("UpdateSession", "updateSession"),
        ("ListMessages", "listMessages"),
        ("Chat", "chat"),
        ("Regenerate", "regenerate"),
        ("Export", "exportSession"),
        ("DeleteSession", "deleteSession"),
    )
}


class SessionsHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "Pinned first, then most recently updated; q matches titles and message text",
        query=SessionQuery,
        answer=SessionList,
        tag="sessions",
        errors=(503,),
        operation_id="listSessions",
    )
    async def get(self, query: SessionQuery) -> None:
        core = await self.core()

        def work() -> tuple[Any, Any]:
            sessions = core.chat.list_sessions(q=query.q or None, limit=query.limit, offset=query.offset)
            return sessions, core.chat.count_sessions(q=query.q or None)

        sessions, total = await self.blocking(work)
        self.send_json({"sessions": sessions, "total": total})

    @requires(WRITE)
    @op(
        "Create a session",
        body=SessionCreate,
        body_optional=True,
        answer=Session,
        status=201,
        tag="sessions",
        errors=(503, 507),
        links=_SESSION_LINKS,
        operation_id="createSession",
    )
    async def post(self, body: SessionCreate) -> None:
        core = await self.core()
        session = await self.blocking(lambda: core.chat.create_session(**body.given()))
        self.send_json(session, status=201)


class SessionHandler(ChatExtHandler):
    @requires(READ)
    @op("A session", answer=Session, tag="sessions", errors=(503,), operation_id="getSession")
    async def get(self, session_id: str) -> None:
        core = await self.core()
        self.send_json(await self.blocking(core.chat.get_session, session_id))

    @requires(WRITE)
    @op(
        "Change a session's title, model, system prompt, params or pin",
        body=SessionUpdate,
        answer=Session,
        tag="sessions",
        errors=(503, 507),
        operation_id="updateSession",
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
    @op(
        "Delete the session, its messages and metrics",
        status=204,
        tag="sessions",
        errors=(503,),
        operation_id="deleteSession",
    )
    async def delete(self, session_id: str) -> None:
        core = await self.core()
        await self.blocking(core.chat.delete_session, session_id)
        self.send_empty()


class MessagesHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "The newest `limit` messages with id < before, oldest first",
        query=MessagesQuery,
        answer=MessagePage,
        tag="sessions",
        errors=(503,),
        operation_id="listMessages",
    )
    async def get(self, session_id: str, query: MessagesQuery) -> None:
        before, limit = query.before, query.limit
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
    @op(
        "Edit a message; with resend true the turn is answered again (an SSE stream)",
        body=EditRequest,
        answer=Message,
        stream=TurnEvent,
        tag="chat",
        errors=(503, 507),
        operation_id="editMessage",
    )
    async def patch(self, session_id: str, raw_id: str, body: EditRequest) -> None:
        if body.resend:  # editing is a write; resending also runs the model
            await self.authorize(EXECUTE)
        core = await self.core()
        message_id = await owned_message(self, core, session_id, raw_id)
        if body.resend:
            events = core.chat.edit_and_resend(message_id, body.content, params=body.options())
            await stream_turn(self, events)
            return
        message = await self.blocking(core.chat.edit_message, message_id, body.content)
        self.send_json(message)

    @requires(WRITE)
    @op("Delete a message", status=204, tag="sessions", errors=(503,), operation_id="deleteMessage")
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
    @op(
        "Show the branch of this user message (an edit of its turn); the messages listing follows it",
        answer=BranchHead,
        tag="sessions",
        operation_id="switchBranch",
    )
    async def post(self, session_id: str, raw_id: str) -> None:
        core = await self.core()
        head = await self.blocking(core.chat.switch_branch, session_id, self.message_id(raw_id))
        self.send_json({"head_id": head})


async def stream_turn(handler: StreamingHandler, events: Any) -> None:
    """Answer with the events of one turn as text/event-stream."""
    await handler.stream_sse(events, message_id=None)


class ChatHandler(StreamingHandler):
    @requires(EXECUTE)
    @op(
        "One turn; errors before the first token come back as JSON with their status",
        body=ChatRequest,
        stream=TurnEvent,
        tag="chat",
        errors=(503, 507),
        operation_id="chat",
    )
    async def post(self, session_id: str, body: ChatRequest) -> None:
        core = await self.core()
        if body.rag is not None:
            core.rag_service()  # 503 rag_unavailable before anything is written
        extra: dict[str, Any] = {}
        if body.tools is not None:  # an agent turn
            extra["tools"] = body.tools.model_dump(exclude_unset=True)
        if body.context is not None:
            extra["context"] = [item.model_dump() for item in body.context]
        events = core.chat.chat(session_id, body.content, params=body.options(), rag=body.rag, **extra)
        await stream_turn(self, events)


class RegenerateHandler(StreamingHandler):
    @requires(EXECUTE)
    @op(
        "Answer the last user message again (earlier answers are kept as versions)",
        body=RegenerateRequest,
        body_optional=True,
        stream=TurnEvent,
        tag="chat",
        errors=(503, 507),
        operation_id="regenerate",
    )
    async def post(self, session_id: str, body: RegenerateRequest) -> None:
        core = await self.core()
        await stream_turn(self, core.chat.regenerate(session_id, params=body.options()))


class ContinueHandler(StreamingHandler):
    """``POST sessions/{id}/messages/{mid}/continue``: continue an interrupted answer (SSE; 409
    ``not_interrupted`` for any other message). The new text is appended to that message."""

    @requires(EXECUTE)
    @op(
        "Continue an interrupted assistant message (409 not_interrupted otherwise)",
        body=ParamsOnly,
        body_optional=True,
        stream=TurnEvent,
        tag="chat",
        errors=(409, 503, 507),
        operation_id="continueAnswer",
    )
    async def post(self, session_id: str, raw_id: str, body: ParamsOnly) -> None:
        core = await self.core()
        message_id = await owned_message(self, core, session_id, raw_id)
        await stream_turn(self, core.chat.continue_answer(message_id, params=body.options()))


class ExportHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "The session as a file (Content-Disposition attachment): JSON (every branch) or Markdown",
        query=ExportQuery,
        answer=SessionExport,
        media="text/markdown",
        tag="sessions",
        errors=(503,),
        operation_id="exportSession",
    )
    async def get(self, session_id: str, query: ExportQuery) -> None:
        fmt = "markdown" if query.format == "md" else query.format
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
    @op(
        "Import a JSON export (new ids, same content); validated before anything is written",
        body=SessionImport,
        large_body=True,  # up to max_upload_bytes: parsed off the loop
        answer=Session,
        status=201,
        tag="sessions",
        errors=(503, 507),
        links={
            "ListMessages": {
                "operationId": "listMessages",
                "parameters": {"session_id": "$response.body#/id"},
            }
        },
        operation_id="importSession",
    )
    async def post(self, body: SessionImport) -> None:
        core = await self.core()
        session = await self.long_call(core.chat.import_session, body.root)
        self.send_json(session, status=201)


class HistorySearchHandler(ChatExtHandler):
    """Full-text search over every stored message: ``GET search?q=&limit=``."""

    @requires(READ)
    @op(
        "Every query word must be a prefix of some word of a message (case-insensitive)",
        query=HistoryQuery,
        answer=SearchResults,
        tag="store",
        errors=(503,),
        operation_id="searchMessages",
    )
    async def get(self, query: HistoryQuery) -> None:
        q, limit = query.q, query.limit
        core = await self.core()
        results = await self.blocking(lambda: core.chat.search_messages(q, limit=limit))
        self.send_json({"results": results})
