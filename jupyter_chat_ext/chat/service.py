"""ChatService: the one API every door (HTTP, kernel, widgets, reports) calls for chats.

Sessions, messages, history search, the SQL door and the response cache go through here, so a
door never holds the Store; models, RAG, tools and jobs are the Core's other services
(``core.py``). A session or message write is checked here (a title's default, the model resolved
against the registry, the options, the size limits) before it reaches the Store; reads and plain
deletes go straight to the Store (under the session lock where a turn could be writing). Turns (chat,
regenerate, edit-and-resend, continue) live in ``turns.py`` and ``answer.py``. A turn = validate
everything → build the prompt within the context budget → check capacity → persist the user
message and a "streaming" assistant placeholder → stream from the engine, checkpointing the text
about once a second → finish the answer with metrics in one write. The answer is also finished
when the consumer goes away (status "interrupted", the partial text kept) or the engine fails
(status "error"). Nothing is written before the input is known good and the engine has room.

One writer per session (``session_lock``): a turn of any kind holds its session from its first
read to its last write, and an edit or delete of its rows holds it for its one store call; a
request that finds the session held by a turn is refused with 409 ``session_busy`` before it
reads or writes anything, so no request deletes a row another one owns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from ..errors import InvalidInput, NotFound, PayloadTooLarge
from ..settings import Settings
from ..store.types import Message, NewSession, SearchHit, Session
from . import inputs
from .agent import Agent
from .approvals import ApprovalBroker
from .inline import InlineRequest
from .inline_run import inline_events
from .session_lock import SessionLocks
from .titles import DEFAULT_TITLE
from .turn_state import Event
from .turns import RAG_INSTRUCTIONS, Turns

if TYPE_CHECKING:  # the concrete parts (no Protocol): a reader or a tool follows a call into them
    from ..engine.engine import Engine
    from ..engine.structured import Structured
    from ..rag.service import RagService
    from ..store.store import Store
    from ..tools.registry import ToolRegistry

__all__ = ["RAG_INSTRUCTIONS", "ChatService", "Event"]

#: the session fields a door may change (PATCH /sessions/{id}, %chat session ...)
_UPDATABLE = ("title", "model", "system_prompt", "params", "pinned")


class ChatService:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        settings: Settings,
        rag: RagService | None = None,
        tools: ToolRegistry | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings
        self.rag = rag
        self.tools = tools  # the ToolRegistry agent turns call (None: no tools here)
        self.turns = Turns(store, engine, settings, rag)
        #: the user's replies to agent tool calls (POST /chat-ext/tool-calls/{id}, the kernel)
        self.approvals = ApprovalBroker()
        self.agent = Agent(store, engine, settings, self.approvals, tools, rag)
        #: one writer per session (turns, regenerate, continue, edits, deletes)
        self.locks = SessionLocks()

    # -- sessions & messages (synchronous; doors call them on worker threads) -----------------
    def create_session(self, **fields: Unpack[NewSession]) -> Session:
        """A new session: the title defaults, the model is resolved against the registry, the
        system prompt and options are checked (400 naming the field) before the row is written."""
        unknown = set(fields) - set(NewSession.__annotations__)
        if unknown:
            raise InvalidInput(f"unknown session field(s): {', '.join(sorted(unknown))}")
        title = inputs.text("title", fields.get("title"))
        return self.store.create_session(
            title=(title or "").strip() or DEFAULT_TITLE,
            model=inputs.model(self.engine, fields.get("model")),
            system_prompt=inputs.text("system_prompt", fields.get("system_prompt")),
            params=inputs.params(fields.get("params")),
        )

    def get_session(self, session_id: str) -> Session:
        return self.store.get_session(session_id)

    def list_sessions(self, q: str | None = None, limit: int = 50, offset: int = 0) -> list[Session]:
        return self.store.list_sessions(q=q, limit=limit, offset=offset)

    def count_sessions(self, q: str | None = None) -> int:
        return self.store.count_sessions(q=q)

    def update_session(self, session_id: str, **fields: Any) -> Session:
        unknown = set(fields) - set(_UPDATABLE)
        if unknown:
            raise InvalidInput(
                f"cannot update {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(_UPDATABLE))})"
            )
        if "title" in fields:
            title = inputs.text("title", fields["title"], allow_none=False) or ""
            if not title.strip():
                raise InvalidInput("title must not be empty")
            fields["title"] = title.strip()
        if "model" in fields:
            fields["model"] = inputs.model(self.engine, fields["model"])
        if "system_prompt" in fields:
            fields["system_prompt"] = inputs.text("system_prompt", fields["system_prompt"])
        if "params" in fields:
            fields["params"] = inputs.params(fields["params"])
        if "pinned" in fields and not isinstance(fields["pinned"], bool):
            raise InvalidInput("pinned must be true or false")
        return self.store.update_session(session_id, **fields)

    def delete_session(self, session_id: str) -> None:
        with self.locks.short(session_id, "a delete"):
            self.store.delete_session(session_id)

    def list_messages(self, session_id: str, before: int | None = None, limit: int = 100) -> list[Message]:
        self.store.get_session(session_id)  # NotFound for an unknown session, not an empty list
        return self.store.list_messages(session_id, before=before, limit=limit)

    def get_message(self, message_id: int) -> Message:
        return self.store.get_message(message_id)

    def edit_message(self, message_id: int, content: str) -> Message:
        session_id = self.store.get_message(message_id)["session_id"]
        content = inputs.content(content, self.settings.max_content_chars)
        with self.locks.short(session_id, "an edit"):
            current = self.store.get_message(message_id)
            # one write for content + token count: the stored count of the old text would be
            # wrong, so it is cleared (None) and the next prompt build counts this message afresh
            return self.store.finish_message(
                message_id,
                content=content,
                status=current["status"],
                metadata=current["metadata"],
                tokens=None,
            )

    def delete_message(self, message_id: int) -> None:
        session_id = self.store.get_message(message_id)["session_id"]
        with self.locks.short(session_id, "a delete"):
            self.store.delete_message(message_id)

    def switch_branch(self, session_id: str, message_id: int) -> int:
        """Show the branch of user message ``message_id`` (an edit of its turn); the new head id.
        Held like an edit: a switch while a turn streams would change the prompt under it."""
        if self.store.get_message(message_id)["session_id"] != session_id:
            raise NotFound(f"no message {message_id} in session {session_id}")
        with self.locks.short(session_id, "a branch switch"):
            return self.store.switch_branch(session_id, message_id)

    def export_session(self, session_id: str, fmt: str = "json") -> str:
        if fmt not in ("json", "markdown"):
            raise InvalidInput(f"unknown export format '{fmt}' (use json or markdown)")
        return self.store.export_session(session_id, fmt)

    def import_session(self, data: str | dict[str, Any]) -> Session:
        # an import obeys the chat's size limit: a 10 MB imported message used to stall every turn
        return self.store.import_session(data, max_content_chars=self.settings.max_content_chars)

    # -- the rest of the store a door may use (history search, the SQL door, the cache) ---------
    # the doors' only way to the Store: a door holds the ChatService, never the Store itself
    def search_messages(self, q: str, limit: int = 50) -> list[SearchHit]:
        """History search over every session's messages (store/search.py)."""
        return self.store.search_messages(q, limit=limit)

    def query(self, sql: str, *, max_rows: int = 10_000) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The read-only SQL door (store/sql_door.py): one SELECT, refused if it could write."""
        return self.store.query(sql, max_rows=max_rows)

    def cache_get(self, key: str) -> dict[str, Any] | None:
        return self.store.cache_get(key)

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        self.store.cache_put(key, value)

    # -- turns: lazy async generators of events ---------------------------------------------
    def chat(
        self,
        session_id: str,
        content: str,
        params: dict[str, Any] | None = None,
        rag: dict[str, Any] | None = None,
        tools: dict[str, Any] | None = None,
        context: list[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Event]:
        """A turn; with ``tools`` ({names, client, max_steps, tool_choice}) an agent turn that may
        call tools in a loop (chat/agent.py). ``context``: attached files, cells, variables,
        errors ([{kind, label, text}], chat/context.py), stored in the user message's metadata."""
        if tools is not None:
            events = self.agent.chat(session_id, content, params, tools, rag, context)
        else:
            events = self.turns.chat(session_id, content, params, rag, context)
        return self._held(session_id, events)

    def reply_tool_call(
        self, call_id: str, decision: str, result: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """The user's decision on a waiting tool call, with the ``approval_token`` of its
        ``tool_call`` event (404 unknown/finished, 403 wrong token, 409 decided, 400 bad)."""
        return self.approvals.reply(call_id, decision, result, token)

    def regenerate(self, session_id: str, params: dict[str, Any] | None = None) -> AsyncIterator[Event]:
        return self._held(session_id, self.turns.regenerate(session_id, params))

    def edit_and_resend(
        self, message_id: int, content: str, params: dict[str, Any] | None = None
    ) -> AsyncIterator[Event]:
        return self._held(message_id, self.turns.edit_and_resend(message_id, content, params))

    def continue_answer(self, message_id: int, params: dict[str, Any] | None = None) -> AsyncIterator[Event]:
        """Continue an interrupted answer (409 ``not_interrupted`` for any other message)."""
        return self._held(message_id, self.turns.continue_answer(message_id, params))

    async def _held(self, owner: str | int, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        """``events`` run while holding their session (``owner``: its id, or a message id whose
        session is looked up first). The inner generator has not started yet: the lock is taken
        before it reads anything, and released after its last write (its ``finally``)."""
        async with aclosing(events) as inner:  # closes it unstarted when the lock is refused
            if isinstance(owner, str):
                session_id = owner
            else:
                message_id = inputs.message_id(owner)
                message = await asyncio.to_thread(self.store.get_message, message_id)
                session_id = message["session_id"]
            async with self.locks.turn(session_id):
                async for event in inner:
                    yield event

    async def inline(self, req: InlineRequest, *, budget_tokens: int) -> AsyncIterator[Event]:
        """Ghost-text completion for the editor (chat/inline_run.py): no session, nothing stored.
        A request that names no model gets the inline role's (a pulled FIM code model, else the
        chat model: hub/roles.py), looked up off the event loop."""
        if req.model is None:
            from ..hub.roles import inline_model

            req.model = await asyncio.to_thread(inline_model, self.engine)
        async with aclosing(inline_events(self.engine, req, budget_tokens=budget_tokens)) as events:
            async for event in events:
                yield event

    # -- stateless completion (OpenAI-compatible route) ------------------------------------
    async def complete(
        self,
        messages: list[dict[str, Any]],
        params: dict[str, Any] | None = None,
        model: str | None = None,
        *,
        structured: Structured | None = None,
        token_events: bool = True,
    ) -> AsyncIterator[Event]:
        """A stateless completion (the OpenAI route); ``structured`` (engine/structured.Structured)
        constrains it to JSON or a tool call, which streams as ``tool_call`` delta events and comes
        back whole in the done event. ``token_events=False``: a caller that waits for the whole
        answer (engine.stream: the loop is woken at the end, not once a token)."""
        opts = inputs.options(params)
        model_id = self.engine.resolve(model)
        # a registry lookup may ask a remote endpoint: keep it off the event loop
        await asyncio.to_thread(inputs.model, self.engine, model_id)
        for m in messages if isinstance(messages, list) else []:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str) and len(content) > self.settings.max_content_chars:
                raise PayloadTooLarge("a message is longer than the configured limit")
        # engine.stream validates the messages (and tokenizes them once, off the loop)
        stream = self.engine.stream(
            model_id, messages, opts, structured=structured, token_events=token_events
        )
        async with aclosing(stream) as events:
            async for event in events:
                yield event

    def close(self, close_engine: bool = True) -> None:
        if self.rag is not None and hasattr(self.rag, "close"):
            self.rag.close()
        if close_engine:
            self.engine.close()
        self.store.close()
