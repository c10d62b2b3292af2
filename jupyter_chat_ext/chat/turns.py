"""Turn orchestration: chat, regenerate, edit-and-resend and continue, one way through.

Each entry point validates its input once (``inputs``), reads what it needs from the store, builds
a ``Turn`` with the prompt rendered once (``prompt.build_prompt``), and hands it to
``answer.stream_answer`` with the writes that start it (``begin``) and the writes that take them
back if the engine refuses the request as busy (``undo``). The generators are lazy: every check
runs on the first ``__anext__()`` and raises the typed error before any event and any write.

Every store call and every tokenizer call runs on a worker thread (``_off``); the event loop only
awaits. Answer versions: assistant messages sharing a ``parent_id`` are versions of one answer;
regenerate adds a version (earlier ones are kept), the prompt uses the newest. Branches: an edited
question is a new user message beside the original (store/branches.py); every prompt is built
from the branch the question is on, never from another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import Conflict, InvalidInput
from ..settings import Settings
from ..store.types import Message, Session
from . import inputs
from .answer import stream_answer
from .context import fold as fold_context
from .context import stored as stored_context
from .inputs import RagSpec
from .prompt import HISTORY_LIMIT, build_prompt, history_items
from .turn_state import Event, Turn, new_message_writes, streaming_answer

if TYPE_CHECKING:  # the concrete parts (no Protocol): a reader or a tool follows a call into them
    from ..engine.engine import Engine
    from ..rag.service import RagService
    from ..store.store import Store

log = logging.getLogger(__name__)

T = TypeVar("T")
RAG_INSTRUCTIONS = (
    "Answer using the numbered sources below when they are relevant, and cite them as [1], [2]. "
    "If the sources do not contain the answer, say so."
)


async def _off(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store/tokenizer/index call on a worker thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class Turns:
    def __init__(
        self, store: Store, engine: Engine, settings: Settings, rag: RagService | None = None
    ) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings
        self.rag = rag
        #: seconds between checkpoints of a streaming answer (None: the Checkpointer's default)
        self.checkpoint_interval: float | None = None
        self._continuing: set[int] = set()  # answers being continued in this process

    # -- entry points ---------------------------------------------------------------------------
    async def chat(
        self, session_id: str, content: Any, params: Any = None, rag: Any = None, context: Any = None
    ) -> AsyncIterator[Event]:
        content = inputs.content(content, self.settings.max_content_chars)
        items = inputs.context(context, self.settings.max_content_chars, used=len(content))
        spec = inputs.rag(rag, self.rag is not None)
        session = await _off(self.store.get_session, session_id)
        opts = inputs.options(session.get("params"), params)
        model_id = await self._model(session)
        if spec is not None:
            await _off(self.rag.get_collection, spec.collection)  # NotFound before anything else
        history = await _off(self.store.list_messages, session_id, limit=HISTORY_LIMIT)
        turn = Turn(session, model_id, opts, content, rag=spec, context=items)
        await self._prepare(turn, history)
        begin, undo = new_message_writes(self.store, turn, lambda: self._placeholder(turn))
        async with aclosing(self._answer(turn, begin, undo)) as events:
            async for event in events:
                yield event

    async def regenerate(self, session_id: str, params: Any = None) -> AsyncIterator[Event]:
        params = inputs.params(params)
        session = await _off(self.store.get_session, session_id)
        history = await _off(self.store.list_messages, session_id, limit=HISTORY_LIMIT)
        users = [m for m in history if m["role"] == "user"]
        if not users:
            raise Conflict("this session has no user message to answer again", code="nothing_to_regenerate")
        last = users[-1]
        # the earlier answers of the last turn stay as versions; anything after them goes
        keep_until = max([m["id"] for m in _answers_of(history, last["id"])], default=last["id"])
        async with aclosing(
            self._resend(session, last, last["content"], params, history, keep_until)
        ) as events:
            async for event in events:
                yield event

    async def edit_and_resend(
        self, message_id: Any, content: Any, params: Any = None
    ) -> AsyncIterator[Event]:
        """A changed question starts a branch beside the original (store/branches.py): the old
        one keeps its later turns and answer versions. The same question again on the last turn
        of its branch is a new version of its answer; anywhere else it is a branch too."""
        content = inputs.content(content, self.settings.max_content_chars)
        params = inputs.params(params)
        message = await _off(self.store.get_message, message_id)
        if message["role"] != "user":
            raise InvalidInput("only a user message can be edited and resent")
        session = await _off(self.store.get_session, message["session_id"])
        # the branch that leads to the message (it may not be the one shown)
        history = await _off(
            self.store.list_messages, session["id"], limit=HISTORY_LIMIT, through=message["id"]
        )
        last_turn = not any(m["role"] == "user" and m["id"] > message["id"] for m in history)
        if content == message["content"] and last_turn:  # a new version of its answer
            keep_until = max([m["id"] for m in _answers_of(history, message["id"])], default=message["id"])
            resend = self._resend(session, message, content, params, history, keep_until)
        else:
            resend = self._fork(session, message, content, params, history)
        async with aclosing(resend) as events:
            async for event in events:
                yield event

    async def continue_answer(self, message_id: Any, params: Any = None) -> AsyncIterator[Event]:
        """Continue an interrupted answer: the prompt is the history up to its user message with
        the partial text as the start of the assistant's turn; the new text is appended to it."""
        message_id = inputs.message_id(message_id)
        params = inputs.params(params)
        answer = await _off(self.store.get_message, message_id)
        if answer["role"] != "assistant" or answer["status"] != "interrupted":
            raise Conflict(
                f"message {message_id} is not an interrupted answer (role {answer['role']}, "
                f"status {answer['status']})",
                code="not_interrupted",
            )
        if answer.get("parent_id") is None:
            raise Conflict(f"message {message_id} answers no user message", code="not_interrupted")
        if message_id in self._continuing:
            raise Conflict(f"message {message_id} is being continued already", code="not_interrupted")
        # claimed before the first await, so a second request for it is refused at once
        self._continuing.add(message_id)
        try:
            async with aclosing(self._continue(answer, params)) as events:
                async for event in events:
                    yield event
        finally:
            self._continuing.discard(message_id)

    # -- steps ----------------------------------------------------------------------------------
    async def _continue(self, answer: Message, params: dict[str, Any]) -> AsyncIterator[Event]:
        message_id = answer["id"]
        session = await _off(self.store.get_session, answer["session_id"])
        user = await _off(self.store.get_message, answer["parent_id"])
        history = await _off(
            self.store.list_messages,
            session["id"],
            before=user["id"],
            limit=HISTORY_LIMIT,
            through=user["id"],
        )
        # the options the answer was started with, then the request's
        opts = inputs.options(session.get("params"), answer.get("params"), params)
        model_id = await self._model(session)
        turn = Turn(session, model_id, opts, user["content"], user=user, rag=self._stored_rag(user))
        turn.answer, turn.continued, turn.prefix = answer, True, answer["content"]
        await self._prepare(turn, history)

        def begin() -> None:
            turn.answer = self.store.update_message(message_id, status="streaming")

        def undo() -> None:
            self.store.update_message(message_id, status="interrupted")

        async with aclosing(self._answer(turn, begin, undo)) as events:
            async for event in events:
                yield event

    async def _resend(
        self,
        session: Session,
        user: Message,
        content: str,
        params: dict[str, Any],
        history: list[Message],
        keep_until: int,
    ) -> AsyncIterator[Event]:
        """A new answer version to ``user`` (regenerate): the earlier versions stay; rows of the
        branch shown after ``keep_until`` (the rest of an agent turn) go."""
        opts = inputs.options(session.get("params"), user.get("params"), params)
        model_id = await self._model(session)
        turn = Turn(session, model_id, opts, content, user=user, rag=self._stored_rag(user))
        await self._prepare(turn, [m for m in history if m["id"] < user["id"]])

        def begin() -> None:
            self.store.delete_messages_after(session["id"], keep_until)
            turn.answer = self._placeholder(turn)

        def undo() -> None:
            assert turn.answer is not None
            self.store.delete_message(turn.answer["id"])

        async with aclosing(self._answer(turn, begin, undo)) as events:
            async for event in events:
                yield event

    async def _fork(
        self,
        session: Session,
        original: Message,
        content: str,
        params: dict[str, Any],
        history: list[Message],
    ) -> AsyncIterator[Event]:
        """The edited question as a sibling of ``original`` (same parent, same attached context
        and retrieval), answered with the history before it; nothing is deleted."""
        opts = inputs.options(session.get("params"), original.get("params"), params)
        model_id = await self._model(session)
        turn = Turn(session, model_id, opts, content, rag=self._stored_rag(original))
        turn.context = stored_context(original) or None
        await self._prepare(turn, [m for m in history if m["id"] < original["id"]])
        meta = {k: v for k, v in (original.get("metadata") or {}).items() if k in ("rag", "context")}

        def begin() -> None:
            turn.user = self.store.add_message(
                session["id"],
                "user",
                content,
                model=model_id,
                params=turn.opts.to_dict(),
                parent_id=original.get("parent_id"),
                metadata=meta or None,
                tokens=turn.user_tokens,
                fork=True,
            )
            turn.answer = self._placeholder(turn)

        def undo() -> None:
            assert turn.user is not None and turn.answer is not None
            self.store.delete_message(turn.answer["id"])
            self.store.delete_message(turn.user["id"])

        async with aclosing(self._answer(turn, begin, undo)) as events:
            async for event in events:
                yield event

    def _answer(
        self, turn: Turn, begin: Callable[[], None], undo: Callable[[], None]
    ) -> AsyncIterator[Event]:
        return stream_answer(
            self.store, self.engine, turn, begin, undo, checkpoint_interval=self.checkpoint_interval
        )

    async def _model(self, session: Session) -> str:
        model_id = self.engine.resolve(session.get("model"))
        # a registry lookup may ask a remote endpoint: off the loop like every other I/O
        await _off(inputs.model, self.engine, model_id)
        return await self.engine.ensure_loaded(model_id)

    def _stored_rag(self, user: Message) -> RagSpec | None:
        """The retrieval a stored user message was asked with (re-run on regenerate/continue)."""
        stored = (user.get("metadata") or {}).get("rag")
        if stored is None or self.rag is None:
            return None
        return inputs.rag(stored, True)

    def _placeholder(self, turn: Turn) -> Message:
        assert turn.user is not None
        return streaming_answer(self.store, turn, turn.user["id"], turn.metadata())

    async def _prepare(self, turn: Turn, history: list[Message]) -> None:
        """Retrieve (RAG) and build the prompt within the context budget (on worker threads)."""
        model_id = turn.model_id
        budget = await _off(self.engine.budget, model_id, turn.opts.max_tokens)  # 400 when it cannot fit
        ctx, reserve = budget.context, budget.reserve
        system = turn.session.get("system_prompt") or None
        if turn.rag is not None:
            context_text = await self._retrieve(turn, max(64, budget.prompt // 2))
            if context_text:
                system = "\n\n".join(p for p in (system, RAG_INSTRUCTIONS, context_text) if p)
        items = history_items(history)

        def count(text: str) -> int:
            return self.engine.count_tokens(model_id, text)

        def render(messages: list[dict[str, str]]) -> str:
            return self.engine.render_prompt(model_id, messages)

        def work() -> None:
            if turn.continued:  # continue: the partial answer takes prompt room too
                stored = turn.answer.get("tokens") if turn.answer else None
                turn.prefix_tokens = stored if stored is not None else count(turn.prefix)
            prompt = build_prompt(
                system=system,
                history=items,
                # the message with its attached context in front (stored ones on a resend)
                user=fold_context(turn.content, turn.context or stored_context(turn.user)),
                count_text=count,
                render=render,
                context_length=ctx,
                reserve=reserve + turn.prefix_tokens,
            )
            if prompt.dropped:
                log.info("trimmed %d old messages to fit the context of %s", prompt.dropped, model_id)
            # continue: the partial answer follows the generation prompt as the assistant's own
            # beginning, so the model carries on from its last word
            turn.prompt = prompt.text + turn.prefix
            turn.prompt_tokens = prompt.tokens + turn.prefix_tokens
            turn.user_tokens = prompt.user_tokens

        await _off(work)

    async def _retrieve(self, turn: Turn, budget: int) -> str:
        assert turn.rag is not None
        spec, model_id = turn.rag, turn.model_id

        def work() -> tuple[str, list[dict[str, Any]]]:
            from ..rag.context import format_context

            hits = self.rag.search(spec.collection, turn.content, k=spec.k, mode=spec.mode)
            return format_context(hits, budget, lambda text: self.engine.count_tokens(model_id, text))

        context_text, turn.citations = await _off(work)
        return context_text


def _answers_of(history: list[Message], user_id: int) -> list[Message]:
    return [m for m in history if m["role"] == "assistant" and m.get("parent_id") == user_id]
