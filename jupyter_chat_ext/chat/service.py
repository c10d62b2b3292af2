"""ChatService: the one API every door (HTTP, kernel, widgets, reports) calls.

A turn = validate everything → build the prompt within the context budget → persist the user
message and an assistant placeholder → stream from the engine → persist the answer with metrics.
The answer is also persisted when the consumer goes away (status "interrupted", the partial text
kept) or the engine fails (status "error"). Nothing is written before the input is known good.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from ..engine.options import GenerationOptions
from ..errors import ChatExtError, Conflict, InvalidInput, PayloadTooLarge
from ..settings import Settings
from .prompt import build_prompt, history_messages
from .titles import DEFAULT_TITLE, needs_title, title_from

log = logging.getLogger(__name__)

Event = dict[str, Any]
RAG_INSTRUCTIONS = (
    "Answer using the numbered sources below when they are relevant, and cite them as [1], [2]. "
    "If the sources do not contain the answer, say so."
)
# the newest messages considered for the prompt: more never fit a context window
_HISTORY_LIMIT = 1000


class ChatService:
    def __init__(self, store: Any, engine: Any, settings: Settings, rag: Any = None) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings
        self.rag = rag

    # -- sessions & messages ----------------------------------------------------------------
    def _check_params(self, params: Any) -> dict[str, Any]:
        if params is None:
            return {}
        if not isinstance(params, dict):
            raise InvalidInput("params must be an object")
        GenerationOptions.from_any(params)  # validation only
        return params

    def _check_model(self, model: Any) -> str | None:
        if model is None:
            return None
        if not isinstance(model, str) or not model:
            raise InvalidInput("model must be a model id string")
        info = self.engine.registry.get(model)
        if info.kind != "chat":
            raise InvalidInput(f"'{model}' is an embedding model; it cannot chat", code="wrong_model_kind")
        return model

    @staticmethod
    def _check_text(name: str, value: Any, *, allow_none: bool = True) -> str | None:
        if value is None and allow_none:
            return None
        if not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string")
        return value

    def create_session(
        self,
        title: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        title = self._check_text("title", title)
        system_prompt = self._check_text("system_prompt", system_prompt)
        return self.store.create_session(
            title=(title or "").strip() or DEFAULT_TITLE,
            model=self._check_model(model),
            system_prompt=system_prompt,
            params=self._check_params(params),
        )

    def get_session(self, session_id: str) -> dict[str, Any]:
        return self.store.get_session(session_id)

    def list_sessions(self, q: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        return self.store.list_sessions(q=q, limit=limit, offset=offset)

    def count_sessions(self, q: str | None = None) -> int:
        return self.store.count_sessions(q=q)

    def update_session(self, session_id: str, **fields: Any) -> dict[str, Any]:
        allowed = {"title", "model", "system_prompt", "params", "pinned"}
        unknown = set(fields) - allowed
        if unknown:
            raise InvalidInput(
                f"cannot update {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(allowed))})"
            )
        if "title" in fields:
            title = self._check_text("title", fields["title"], allow_none=False)
            if not (title or "").strip():
                raise InvalidInput("title must not be empty")
            fields["title"] = title.strip()  # type: ignore[union-attr]
        if "model" in fields:
            fields["model"] = self._check_model(fields["model"])
        if "system_prompt" in fields:
            fields["system_prompt"] = self._check_text("system_prompt", fields["system_prompt"])
        if "params" in fields:
            fields["params"] = self._check_params(fields["params"])
        if "pinned" in fields and not isinstance(fields["pinned"], bool):
            raise InvalidInput("pinned must be true or false")
        return self.store.update_session(session_id, **fields)

    def delete_session(self, session_id: str) -> None:
        self.store.delete_session(session_id)

    def list_messages(
        self, session_id: str, before: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        self.store.get_session(session_id)
        return self.store.list_messages(session_id, before=before, limit=limit)

    def get_message(self, message_id: int) -> dict[str, Any]:
        return self.store.get_message(message_id)

    def delete_message(self, message_id: int) -> None:
        self.store.delete_message(message_id)

    def export_session(self, session_id: str, fmt: str = "json") -> str:
        if fmt not in ("json", "markdown"):
            raise InvalidInput(f"unknown export format '{fmt}' (use json or markdown)")
        return self.store.export_session(session_id, fmt)

    def import_session(self, data: str | dict[str, Any]) -> dict[str, Any]:
        return self.store.import_session(data)

    # -- turns ------------------------------------------------------------------------------
    def _check_content(self, content: Any) -> str:
        if not isinstance(content, str):
            raise InvalidInput("content must be a string")
        if not content.strip():
            raise InvalidInput("content must not be empty", code="empty_content")
        if len(content) > self.settings.max_content_chars:
            raise PayloadTooLarge(
                f"message is {len(content)} characters; the limit is {self.settings.max_content_chars}"
            )
        return content

    def _options(self, session: dict[str, Any], params: Any) -> GenerationOptions:
        merged = dict(session.get("params") or {})
        merged.update(self._check_params(params))
        return GenerationOptions.from_any(merged)

    def _check_rag(self, rag: Any) -> dict[str, Any] | None:
        if rag is None:
            return None
        if not isinstance(rag, dict) or not isinstance(rag.get("collection"), str):
            raise InvalidInput("rag must be an object with a collection name")
        if self.rag is None:
            raise InvalidInput("retrieval is not available in this service", code="rag_unavailable")
        k = rag.get("k", 4)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
            raise InvalidInput("rag.k must be an integer between 1 and 50")
        mode = rag.get("mode", "hybrid")
        if mode not in ("hybrid", "vector", "text"):
            raise InvalidInput("rag.mode must be hybrid, vector or text")
        self.rag.get_collection(rag["collection"])  # NotFound early
        return {"collection": rag["collection"], "k": k, "mode": mode}

    async def _retrieve(
        self, rag: dict[str, Any], query: str, model_id: str, budget: int
    ) -> tuple[str, list[dict[str, Any]]]:
        loop = asyncio.get_running_loop()
        hits = await loop.run_in_executor(
            None, lambda: self.rag.search(rag["collection"], query, k=rag["k"], mode=rag["mode"])
        )
        from ..rag.context import format_context

        def count(text: str) -> int:
            return self.engine.count_tokens(model_id, text)

        return format_context(hits, budget, count)

    async def _prepare(
        self,
        session: dict[str, Any],
        history: list[dict[str, Any]],
        content: str,
        opts: GenerationOptions,
        model_id: str,
        rag: dict[str, Any] | None,
    ) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
        ctx = self.engine.context_length(model_id)
        reserve = min(opts.max_tokens or self.settings.default_max_tokens, ctx // 2)
        if opts.max_tokens is not None and opts.max_tokens >= ctx:
            raise InvalidInput(
                f"max_tokens {opts.max_tokens} is above the model's context of {ctx} tokens",
                code="invalid_option",
            )
        system = session.get("system_prompt") or None
        citations: list[dict[str, Any]] = []
        if rag is not None:
            rag_budget = max(64, (ctx - reserve) // 2)
            context_text, citations = await self._retrieve(rag, content, model_id, rag_budget)
            if context_text:
                system = "\n\n".join(p for p in (system, RAG_INSTRUCTIONS, context_text) if p)
        messages, dropped = build_prompt(
            system=system,
            history=history_messages(history),
            user=content,
            count_prompt=lambda msgs: self.engine.count_prompt_tokens(model_id, msgs),
            count_text=lambda text: self.engine.count_tokens(model_id, text),
            context_length=ctx,
            reserve=reserve,
        )
        if dropped:
            log.info("trimmed %d old messages to fit the context of %s", dropped, model_id)
        return messages, citations

    async def chat(
        self,
        session_id: str,
        content: str,
        params: dict[str, Any] | None = None,
        rag: dict[str, Any] | None = None,
    ) -> AsyncIterator[Event]:
        content = self._check_content(content)
        session = self.store.get_session(session_id)
        opts = self._options(session, params)
        model_id = self.engine.resolve(session.get("model"))
        self._check_model(model_id)
        rag = self._check_rag(rag)
        await self.engine.ensure_loaded(model_id)
        history = self.store.list_messages(session_id, limit=_HISTORY_LIMIT)
        messages, citations = await self._prepare(session, history, content, opts, model_id, rag)
        self.engine.check_capacity(model_id)
        user = self.store.add_message(session_id, "user", content, model=model_id, params=opts.to_dict())
        async with aclosing(self._answer(session, user, messages, opts, model_id, citations, rag)) as events:
            async for event in events:
                yield event

    async def regenerate(self, session_id: str, params: dict[str, Any] | None = None) -> AsyncIterator[Event]:
        session = self.store.get_session(session_id)
        history = self.store.list_messages(session_id, limit=_HISTORY_LIMIT)
        users = [m for m in history if m["role"] == "user"]
        if not users:
            raise Conflict("this session has no user message to answer again", code="nothing_to_regenerate")
        last = users[-1]
        async with aclosing(self._resend(session, last, last["content"], params, history)) as events:
            async for event in events:
                yield event

    async def edit_and_resend(
        self, message_id: int, content: str, params: dict[str, Any] | None = None
    ) -> AsyncIterator[Event]:
        content = self._check_content(content)
        message = self.store.get_message(message_id)
        if message["role"] != "user":
            raise InvalidInput("only a user message can be edited and resent")
        session = self.store.get_session(message["session_id"])
        history = self.store.list_messages(session["id"], limit=_HISTORY_LIMIT)
        async with aclosing(self._resend(session, message, content, params, history)) as events:
            async for event in events:
                yield event

    def edit_message(self, message_id: int, content: str) -> dict[str, Any]:
        content = self._check_content(content)
        self.store.get_message(message_id)
        return self.store.update_message(message_id, content=content)

    async def _resend(
        self,
        session: dict[str, Any],
        user: dict[str, Any],
        content: str,
        params: Any,
        history: list[dict[str, Any]],
    ) -> AsyncIterator[Event]:
        base = dict(user.get("params") or {})
        base.update(self._check_params(params))
        opts = self._options(session, base)
        model_id = self.engine.resolve(session.get("model"))
        await self.engine.ensure_loaded(model_id)
        earlier = [m for m in history if m["id"] < user["id"]]
        rag = (user.get("metadata") or {}).get("rag")
        if rag is not None and self.rag is None:
            rag = None
        messages, citations = await self._prepare(session, earlier, content, opts, model_id, rag)
        self.engine.check_capacity(model_id)
        # the input is good: now replace the old answer(s)
        self.store.delete_messages_after(session["id"], user["id"])
        if content != user["content"]:
            user = self.store.update_message(user["id"], content=content)
        async with aclosing(self._answer(session, user, messages, opts, model_id, citations, rag)) as events:
            async for event in events:
                yield event

    async def _answer(
        self,
        session: dict[str, Any],
        user: dict[str, Any],
        messages: list[dict[str, str]],
        opts: GenerationOptions,
        model_id: str,
        citations: list[dict[str, Any]],
        rag: dict[str, Any] | None,
    ) -> AsyncIterator[Event]:
        session_id = session["id"]
        if rag is not None and not (user.get("metadata") or {}).get("rag"):
            self.store.update_message(user["id"], metadata={**(user.get("metadata") or {}), "rag": rag})
        metadata: dict[str, Any] = {"citations": citations} if citations else {}
        answer = self.store.add_message(
            session_id,
            "assistant",
            "",
            model=model_id,
            params=opts.to_dict(),
            parent_id=user["id"],
            status="interrupted",  # until the stream completes: a crash leaves an honest state
            metadata=metadata,
        )
        yield {
            "type": "start",
            "session_id": session_id,
            "user_message_id": user["id"],
            "assistant_message_id": answer["id"],
            "model": model_id,
        }
        parts: list[str] = []
        started = time.perf_counter()
        first: float | None = None
        finished = False
        stream = self.engine.stream(model_id, messages, opts)
        try:
            async for event in stream:
                if event["type"] == "token":
                    if first is None:
                        first = time.perf_counter()
                    parts.append(event["text"])
                    yield {"type": "token", "text": event["text"]}
                elif event["type"] == "done":
                    finished = True
                    yield self._finish(session, user, answer, event, metadata, citations)
                    return
                elif event["type"] == "error":
                    finished = True
                    yield self._fail(
                        answer, "".join(parts), event.get("code", "generation_failed"), event["message"]
                    )
                    return
        except ChatExtError as exc:
            finished = True
            yield self._fail(answer, "".join(parts), exc.code, exc.message)
        finally:
            if not finished:  # the consumer went away (disconnect, Ctrl-C, task cancelled)
                self._interrupt(answer, "".join(parts), metadata, model_id, started, first)
                try:
                    await stream.aclose()
                except BaseException:
                    pass

    def _finish(
        self,
        session: dict[str, Any],
        user: dict[str, Any],
        answer: dict[str, Any],
        event: Event,
        metadata: dict[str, Any],
        citations: list[dict[str, Any]],
    ) -> Event:
        reason = event["finish_reason"]
        status = "interrupted" if reason == "cancelled" else "complete"
        metrics = dict(event["metrics"])
        meta = {**metadata, "finish_reason": reason, "seed": metrics.get("seed")}
        self.store.update_message(answer["id"], content=event["text"], status=status, metadata=meta)
        self.store.add_metrics(
            answer["id"],
            prompt_tokens=metrics["prompt_tokens"],
            completion_tokens=metrics["completion_tokens"],
            ttft_s=metrics["ttft_s"],
            tokens_per_s=metrics["tokens_per_s"],
            total_s=metrics["total_s"],
            model=metrics["model"],
            device=metrics["device"],
            finish_reason=reason,
        )
        if needs_title(session.get("title")):
            try:
                self.store.update_session(session["id"], title=title_from(user["content"], event["text"]))
            except ChatExtError:  # the session was deleted meanwhile
                pass
        return {
            "type": "done",
            "session_id": session["id"],
            "user_message_id": user["id"],
            "message_id": answer["id"],
            "status": status,
            "finish_reason": reason,
            "text": event["text"],
            "metrics": metrics,
            "citations": citations,
        }

    def _fail(self, answer: dict[str, Any], partial: str, code: str, message: str) -> Event:
        try:
            self.store.update_message(
                answer["id"],
                content=partial,
                status="error",
                metadata={"error": {"code": code, "message": message}},
            )
        except ChatExtError:
            log.exception("could not store the failed answer")
        return {"type": "error", "code": code, "message": message, "message_id": answer["id"]}

    def _interrupt(
        self,
        answer: dict[str, Any],
        partial: str,
        metadata: dict[str, Any],
        model_id: str,
        started: float,
        first: float | None,
    ) -> None:
        try:
            self.store.update_message(
                answer["id"],
                content=partial,
                status="interrupted",
                metadata={**metadata, "finish_reason": "cancelled"},
            )
            now = time.perf_counter()
            tokens = self.engine.count_tokens(model_id, partial) if partial else 0
            decode = now - first if first is not None else 0.0
            self.store.add_metrics(
                answer["id"],
                prompt_tokens=0,
                completion_tokens=tokens,
                ttft_s=(first - started) if first is not None else 0.0,
                tokens_per_s=(tokens / decode) if decode > 0 else 0.0,
                total_s=now - started,
                model=model_id,
                device=str(self.engine.get_model(model_id).get("device")),
                finish_reason="cancelled",
            )
        except Exception:
            log.exception("could not store the interrupted answer")

    # -- stateless completion (OpenAI-compatible route) ------------------------------------
    async def complete(
        self, messages: list[dict[str, str]], params: dict[str, Any] | None = None, model: str | None = None
    ) -> AsyncIterator[Event]:
        opts = GenerationOptions.from_any(self._check_params(params))
        model_id = self.engine.resolve(model)
        self._check_model(model_id)
        for m in messages if isinstance(messages, list) else []:
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str) and len(content) > self.settings.max_content_chars:
                raise PayloadTooLarge("a message is longer than the configured limit")
        # engine.stream validates the messages (and tokenizes them once) before its first event
        async with aclosing(self.engine.stream(model_id, messages, opts)) as events:
            async for event in events:
                yield event

    def close(self, close_engine: bool = True) -> None:
        if self.rag is not None and hasattr(self.rag, "close"):
            self.rag.close()
        if close_engine:
            self.engine.close()
        self.store.close()
