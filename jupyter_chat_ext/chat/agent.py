"""An agent turn: the model may call tools in a loop, each call and result stored as rows.

One step = one answer row streamed by ``answer.stream_answer`` (so a step is checkpointed,
finished, failed or interrupted exactly like a plain chat answer), asked with the conversation as
OpenAI messages and the offered tools (``Turn.messages`` / ``Turn.structured``). When the engine
ends a step with ``finish_reason: "tool_calls"`` the row keeps ``metadata.tool_calls``, each call
is checked, approved and run (``agent_calls``), its result stored as a ``tool`` row, and the next
step starts as a new assistant row whose parent is the step before (rows that share a parent are
versions of one answer, so steps must not share one). The loop ends at a plain answer, at
``max_steps`` (done ``finish_reason: "max_steps"``) or when the model gets a call wrong twice
(``"invalid_tool_call"``: one retry, then stop). Closing the stream stops it; every row written
so far stays.

With ``rag`` the collection is searched once before the first step (``agent_rag``): the passages
join the system message every step reads, and the citations end on the row the final ``done``
names (a step that called tools is not the answer, so its row keeps none).

Events: ``start``, ``token``..., per call ``tool_call`` + ``tool_result``, then ``step`` (the next
row) and its tokens, ..., finally ``done`` (``steps``: how many model calls ran).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

from ..engine.structured import Structured  # the engine's seam for tools and tool-call grammars
from ..errors import InvalidInput
from ..settings import Settings
from . import inputs
from .agent_calls import CallContext, CallResult, run_call
from .agent_prompt import fit_messages, history_messages, select_tools, shrink_results, tools_request
from .agent_rag import check_collection, retrieve
from .answer import stream_answer
from .approvals import ApprovalBroker
from .context import fold as fold_context
from .prompt import HISTORY_LIMIT
from .tool_intent import no_call_note
from .turn_state import Event, Turn, new_message_writes, streaming_answer

if TYPE_CHECKING:  # the concrete parts: a reader or a tool follows a call into them
    from ..engine.engine import Budget, Engine
    from ..rag.service import RagService
    from ..store.store import Store
    from ..store.types import Message
    from ..tools.registry import ToolRegistry


class Agent:
    def __init__(
        self,
        store: Store,
        engine: Engine,
        settings: Settings,
        approvals: ApprovalBroker,
        registry: ToolRegistry | None = None,
        rag: RagService | None = None,
    ) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings
        self.approvals = approvals
        self.registry = registry
        self.rag = rag  # the RagService a turn with ``rag`` searches (None: retrieval unavailable)
        self.checkpoint_interval: float | None = None

    async def chat(
        self,
        session_id: str,
        content: Any,
        params: Any = None,
        tools: Any = None,
        rag: Any = None,
        context: Any = None,
    ) -> AsyncIterator[Event]:
        """Validate everything (typed errors before any event or write), then run the loop.

        ``context``: attached items (chat/context.py), stored in the user row's metadata and
        folded in front of the message the model reads, as in a plain turn."""
        content = inputs.content(content, self.settings.max_content_chars)
        items = inputs.context(context, self.settings.max_content_chars, used=len(content))
        req = tools_request(tools, self.settings.agent_max_steps)
        spec = inputs.rag(rag, self.rag is not None)
        if self.registry is None:
            raise InvalidInput("tools are not available in this service", code="unsupported")
        session = await asyncio.to_thread(self.store.get_session, session_id)
        await check_collection(self.rag, spec)
        opts = inputs.options(session.get("params"), params)
        model_id = self.engine.resolve(session.get("model"))
        await asyncio.to_thread(inputs.model, self.engine, model_id)
        model_id = await self.engine.ensure_loaded(model_id)
        budget = await asyncio.to_thread(self.engine.budget, model_id, opts.max_tokens)  # 400 first
        # the tools available now: a server that is starting or broken is never waited for; the
        # start event names it (``unavailable_servers``) so the client can say why its tools are missing
        if req.names is not None:  # a tool asked for by name: its server is started for it (bounded)
            await self.registry.prepare(req.names)
        specs = select_tools(self.registry, await self.registry.list(), req)
        unavailable = self.registry.unavailable()
        offered = [s.openai() for s in specs]
        system, citations = session.get("system_prompt") or None, []
        if spec is not None:
            assert self.rag is not None  # inputs.rag refused the spec otherwise
            system, citations = await retrieve(
                self.rag,
                self.engine,
                spec,
                model_id=model_id,
                budget=budget,
                question=content,
                system=system,
                offered=offered,
            )
        history = await asyncio.to_thread(self.store.list_messages, session_id, limit=HISTORY_LIMIT)
        messages, user_tokens = await asyncio.to_thread(
            self._fit, system, budget, model_id, history, fold_context(content, items), offered
        )

        # (context: stored with the message; the prompt above has it folded in already)
        turn = Turn(session, model_id, opts, content, rag=spec, context=items, messages=messages)
        turn.citations = citations
        # the engine's own check of the tools (names, schemas) before anything is written
        turn.structured = Structured.from_openai({"tools": offered, "tool_choice": req.tool_choice})
        turn.user_tokens = user_tokens
        ctx = CallContext(
            store=self.store,
            engine=self.engine,
            registry=self.registry,
            approvals=self.approvals,
            session_id=session_id,
            model_id=model_id,
            specs={s.name: s for s in specs},
            allowlist=frozenset(self.settings.tool_allowlist),
            timeout_s=float(self.settings.tool_timeout_s),
            approval_timeout_s=float(self.settings.approval_timeout_s),
            max_result_chars=int(self.settings.max_tool_result_chars),
        )

        begin, undo = new_message_writes(self.store, turn, lambda: self._step_row(turn, turn.user["id"]))
        async with aclosing(self._loop(turn, begin, undo, ctx, req.max_steps, offered)) as events:
            async for event in events:
                if event["type"] == "start" and unavailable:
                    event = {**event, "unavailable_servers": unavailable}
                yield event

    def _fit(
        self,
        system: str | None,
        budget: Budget,
        model_id: str,
        history: list[Message],
        content: str,
        offered: list[dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], int]:
        return fit_messages(
            system=system,
            groups=history_messages(history),
            user=content,
            tools=offered,
            count_text=lambda text: self.engine.count_tokens(model_id, text),
            budget=budget.prompt,
        )

    def _fit_results(
        self, turn: Turn, messages: list[dict[str, Any]], results: int, structured: Structured
    ) -> list[dict[str, Any]]:
        """This step's tool results cut until the next prompt leaves room for the answer."""
        budget = self.engine.budget(turn.model_id, turn.opts.max_tokens)

        def count(msgs: list[dict[str, Any]]) -> int:
            return len(self.engine.prompt_ids(turn.model_id, msgs, structured=structured))

        return shrink_results(messages, results, count, budget.prompt)

    def _step_row(self, turn: Turn, parent_id: int) -> Message:
        return streaming_answer(self.store, turn, parent_id)

    async def _loop(
        self, turn: Turn, begin: Any, undo: Any, ctx: CallContext, max_steps: int, offered: list[Any]
    ) -> AsyncIterator[Event]:
        steps = invalid = 0
        while True:
            steps += 1
            done: Event | None = None
            async with aclosing(
                stream_answer(
                    self.store, self.engine, turn, begin, undo, checkpoint_interval=self.checkpoint_interval
                )
            ) as events:
                async for event in events:
                    if event["type"] == "done":
                        done = event
                    elif event["type"] == "start" and steps > 1:
                        assert turn.answer is not None
                        yield {"type": "step", "index": steps - 1, "assistant_message_id": turn.answer["id"]}
                    else:
                        yield event
            if done is None:  # the step failed: its error event went out, its row is stored
                return
            calls = done.pop("tool_calls", None)
            if done["finish_reason"] != "tool_calls" or not calls:
                # no call in the whole turn although one was clearly asked for: say so (issue 20)
                note = no_call_note(turn.content, _offered_names(offered)) if steps == 1 else None
                yield {**done, "steps": steps, **({"note": note} if note else {})}
                return
            assert turn.answer is not None
            step, results = turn.answer, []
            for call in calls:
                async with aclosing(run_call(ctx, step, call, results)) as call_events:
                    async for event in call_events:
                        yield event
            invalid += any(r.invalid for r in results)
            stop = _stop_reason(steps, max_steps, invalid)
            if stop is not None:
                if turn.citations:  # the turn ends on this row: it is the answer the sources go with
                    await asyncio.to_thread(self._cite, step["id"], turn.citations)
                yield {**done, "finish_reason": stop, "steps": steps}
                return
            # the next step answers with the calls and their results in view
            called = {"role": "assistant", "content": done["text"] or None, "tool_calls": calls}
            messages = [*(turn.messages or []), called, *(r.message for r in results)]
            structured = Structured.from_openai({"tools": offered, "tool_choice": "auto"})
            messages = await asyncio.to_thread(self._fit_results, turn, messages, len(results), structured)
            turn = _next_turn(turn, messages, structured)
            begin, undo = self._next_writes(turn, step["id"])

    def _cite(self, message_id: int, citations: list[dict[str, Any]]) -> None:
        meta = self.store.get_message(message_id).get("metadata") or {}
        self.store.update_message(message_id, metadata={**meta, "citations": citations})

    def _next_writes(self, turn: Turn, parent_id: int) -> tuple[Any, Any]:
        def begin() -> None:
            turn.answer = self._step_row(turn, parent_id)

        def undo() -> None:
            assert turn.answer is not None
            self.store.delete_message(turn.answer["id"])

        return begin, undo


def _offered_names(offered: list[Any]) -> list[str]:
    return [str((t.get("function") or {}).get("name") or "") for t in offered if isinstance(t, dict)]


def _stop_reason(steps: int, max_steps: int, invalid: int) -> str | None:
    if invalid >= 2:  # the model got a call wrong, read why, and got one wrong again
        return "invalid_tool_call"
    if steps >= max_steps:
        return "max_steps"
    return None


def _next_turn(prev: Turn, messages: list[dict[str, Any]], structured: Structured) -> Turn:
    turn = Turn(
        prev.session, prev.model_id, prev.opts, prev.content, user=prev.user, rag=prev.rag, messages=messages
    )
    turn.structured, turn.citations = structured, prev.citations
    return turn


__all__ = ["Agent", "CallResult"]
