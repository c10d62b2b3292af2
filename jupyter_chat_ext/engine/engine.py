"""Engine facade: registry + loaded model runtimes (one backend each) + the embedder.

The models and their load state live in ``models.ModelSlots``, which ``Engine`` extends with
prompts and generation. ``backends.choose`` picks llama.cpp, transformers or remote for each model, the
runtime does the work on its own threads, and ``stream`` turns the runtime's thread-side sink calls
into async events through an asyncio queue fed with ``call_soon_threadsafe``, so the caller's event
loop never waits on a model. Prompt rendering and tokenizing run in worker threads too.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import (
    InvalidInput,
    PayloadTooLarge,
    error_from_event,
)
from .backends.base import GenRequest, Messages, ModelRuntime
from .models import ModelSlots
from .options import GenerationOptions
from .structured import Structured
from .structured_prompt import check_messages, prompt_messages

__all__ = ["Budget", "Engine", "check_max_tokens", "check_messages"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """A prompt's room in a model's context: ``context`` tokens in all, ``reserve`` of them kept
    for the answer (the request's max_tokens or the default, at most half the context)."""

    context: int
    reserve: int

    @property
    def prompt(self) -> int:
        """Tokens the prompt may take."""
        return self.context - self.reserve


def check_max_tokens(max_tokens: int | None, context: int) -> None:
    """A 400 ``invalid_option`` when an answer of ``max_tokens`` could not fit the context at all."""
    if max_tokens is not None and max_tokens >= context:
        raise InvalidInput(
            f"max_tokens {max_tokens} is above the model's context of {context} tokens",
            code="invalid_option",
        )


class _ThreadSink:
    """A runtime's ``sink``: events from its worker thread, delivered on the event loop in order.

    Each wake-up of the loop (``call_soon_threadsafe``) is a pipe write and a thread switch, and on
    a machine whose cores all run decode threads it stalls the next decode step while the loop
    runs. So events that arrive while a wake-up is already on its way ride along with it instead
    of scheduling their own (nothing waits: the first event still wakes the loop at once), and
    with ``wake_per_event=False`` only the final event (done or error) wakes it, taking along
    every event before it.
    """

    __slots__ = ("_deliver", "_lock", "_loop", "_pending", "_scheduled", "_wake_per_event")

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: Any, *, wake_per_event: bool = True) -> None:
        self._loop = loop
        self._deliver = deliver
        self._wake_per_event = wake_per_event
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []
        self._scheduled = False

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(event)
            if self._scheduled:
                return
            if not self._wake_per_event and event["type"] not in ("done", "error"):
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._scheduled = False
        for event in batch:
            self._deliver(event)


class Engine(ModelSlots):
    """Prompts and generation over the models of :class:`~.models.ModelSlots`."""

    # -- prompts (blocking: call them in a worker thread from async code) -------------------
    def tokenizer(self, model_id: str | None) -> Any:
        """The Hugging Face tokenizer of a transformers-backed model (None for other backends)."""
        return getattr(self.runtime(model_id), "tokenizer", None)

    def context_length(self, model_id: str | None) -> int:
        return self.runtime(model_id).context_length

    def render_prompt(
        self, model_id: str | None, messages: Messages, *, structured: Structured | None = None
    ) -> str:
        """The chat template applied once (with the generation prompt), as text.

        With ``structured`` asking for tools, the tools are in it (the template's own way, or the
        fallback system block: engine/structured_prompt.py); pass the same ``structured`` to
        ``stream_text`` to constrain the answer.
        """
        rt = self.runtime(model_id)
        msgs, tools = self._prompt(rt, messages, structured)
        # only runtimes whose template takes tools get them (the remote one takes messages only)
        return rt.render(msgs, tools) if tools else rt.render(msgs)

    def prompt_ids(
        self, model_id: str | None, messages: Messages, *, structured: Structured | None = None
    ) -> list[int]:
        rt = self.runtime(model_id)
        msgs, tools = self._prompt(rt, messages, structured)
        return rt.prompt_ids(msgs, tools) if tools else rt.prompt_ids(msgs)

    @staticmethod
    def _prompt(
        rt: ModelRuntime, messages: Messages, structured: Structured | None
    ) -> tuple[Messages, list[dict[str, Any]] | None]:
        msgs = check_messages(messages)
        if rt.backend == "remote":  # the endpoint renders (and sees tools) itself
            return msgs, None
        return prompt_messages(msgs, structured, bool(getattr(rt, "template_tools", False)))

    @staticmethod
    def _structured_run(rt: ModelRuntime, structured: Structured | None) -> Any:
        """The request's StructuredRun, or a 400 where the backend cannot honour the fields."""
        if structured is None or structured.mode == "plain":
            return None
        caps = rt.capabilities()
        need = "tools" if structured.mode in ("call", "auto") else "grammar"
        make = getattr(rt, "structured_run", None)
        if not caps.get(need) or make is None:
            what = "tool calls" if need == "tools" else "structured (JSON) output"
            raise InvalidInput(
                f"the {rt.backend} backend of '{rt.model_id}' cannot honour {what}",
                code="unsupported_feature",
            )
        return make(structured)

    def budget(self, model_id: str | None, max_tokens: int | None) -> Budget:
        """The token budget of a prompt that leaves room for an answer of ``max_tokens``.

        The one place a request's ``max_tokens`` is checked against the model's context: chat
        turns and agent steps ask here before they fit history, retrieved passages or tool
        results, and ``_request`` (every generation, /v1 included) runs the same check.
        """
        ctx = self.context_length(model_id)
        check_max_tokens(max_tokens, ctx)
        return Budget(context=ctx, reserve=min(max_tokens or self.settings.default_max_tokens, ctx // 2))

    def count_prompt_tokens(self, model_id: str | None, messages: Messages) -> int:
        return len(self.prompt_ids(model_id, messages))

    def count_tokens(self, model_id: str | None, text: str) -> int:
        return self.runtime(model_id).count_tokens(text)

    # -- generation -------------------------------------------------------------------------
    def _request(
        self,
        model_id: str | None,
        messages: Messages | None,
        options: GenerationOptions | dict | None,
        sink: Any,
        *,
        prompt: str | None = None,
        suffix: str | None = None,
        structured: Structured | None = None,
    ) -> tuple[ModelRuntime, GenRequest]:
        """Validate, tokenize and size one request (blocking)."""
        opts = GenerationOptions.from_any(options)
        model_id, rt = self._ready(model_id)
        extra: dict[str, Any] = {"structured": self._structured_run(rt, structured)}
        if messages is not None:
            msgs, tools = self._prompt(rt, messages, structured)
            ids = rt.prompt_ids(msgs, tools) if tools else rt.prompt_ids(msgs)
            extra["messages"] = check_messages(messages) if rt.backend == "remote" else msgs
        else:
            if not isinstance(prompt, str):
                raise InvalidInput("prompt must be a string")
            if suffix is not None and not isinstance(suffix, str):
                raise InvalidInput("suffix must be a string")
            fim = rt.fim_ids(prompt, suffix) if suffix else None
            ids = fim if fim is not None else rt.tokenize(prompt, special=True)
            extra["prompt"] = prompt
            extra["suffix"] = suffix if fim is not None else None
        if not ids:
            raise InvalidInput("the prompt is empty", code="invalid_messages")
        ctx = rt.context_length
        check_max_tokens(opts.max_tokens, ctx)
        if len(ids) >= ctx:
            raise PayloadTooLarge(
                f"the prompt is {len(ids)} tokens; the model's context is {ctx} tokens",
                code="prompt_too_long",
            )
        wanted = opts.max_tokens or self.settings.default_max_tokens
        max_new = max(1, min(wanted, ctx - len(ids)))
        req = GenRequest(prompt_ids=ids, options=opts, max_new_tokens=max_new, sink=sink, **extra)
        return rt, req

    async def _events(self, build: Any, *, token_events: bool = True) -> AsyncIterator[dict[str, Any]]:
        """The runtime's events, from its thread to this loop (see :class:`_ThreadSink`)."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        sink = _ThreadSink(loop, events.put_nowait, wake_per_event=token_events)

        abandoned = threading.Event()
        submitted: list[GenRequest] = []

        def submit() -> GenRequest:
            rt, req = build(sink)
            rt.submit(req)
            submitted.append(req)
            if abandoned.is_set():  # the consumer left while we tokenized: stop at once
                req.cancel()
            return req

        try:
            req = await loop.run_in_executor(None, submit)
        except asyncio.CancelledError:
            abandoned.set()  # either this or submit() sees the other's mark: the request ends
            for r in submitted:
                r.cancel()
            raise
        finished = False
        try:
            while True:
                event = await events.get()
                if event["type"] in ("done", "error"):
                    finished = True
                yield event
                if finished:
                    return
        finally:
            if not finished:
                self.cancelled_requests += 1
                req.cancel()

    async def stream(
        self,
        model_id: str | None,
        messages: Messages,
        options: GenerationOptions | dict | None = None,
        *,
        structured: Structured | None = None,
        token_events: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield token events then one done (or error) event; closing early cancels the request.

        ``token_events=False`` is for a consumer that only needs the end (a non-streamed answer):
        the same events come, but the loop is woken once, at the done or error event, instead of
        once a token (each wake-up takes a core from the decode threads for a moment).

        ``structured`` (engine/structured.py) constrains the answer to JSON or a tool call; a tool
        call streams as ``tool_call`` events in OpenAI's delta shape while it is generated
        (engine/tool_stream.py: id and name first, then pieces of the arguments) and comes back
        whole in the done event (``finish_reason: "tool_calls"``, ``tool_calls``), never in token
        events.
        """
        model_id = await self.ensure_loaded(model_id)

        def build(sink: Any) -> tuple[ModelRuntime, GenRequest]:
            return self._request(model_id, messages, options, sink, structured=structured)

        async for event in self._events(build, token_events=token_events):
            yield event

    async def stream_text(
        self,
        model_id: str | None,
        prompt: str,
        options: GenerationOptions | dict | None = None,
        *,
        suffix: str | None = None,
        structured: Structured | None = None,
        token_events: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Raw-prompt completion (no chat template): the same events as ``stream`` (and the same
        ``token_events``).

        ``structured`` constrains the answer as in ``stream`` (render the prompt with
        ``render_prompt(..., structured=)`` so the model sees the tools).

        With a ``suffix`` the prompt is a fill-in-the-middle one when the model has FIM tokens
        (``capabilities()["fim"]``), else the suffix is ignored (prefix-only completion).
        """
        model_id = await self.ensure_loaded(model_id)

        def build(sink: Any) -> tuple[ModelRuntime, GenRequest]:
            return self._request(
                model_id, None, options, sink, prompt=prompt, suffix=suffix, structured=structured
            )

        async for event in self._events(build, token_events=token_events):
            yield event

    def generate_iter(
        self,
        model_id: str | None,
        messages: Messages,
        options: GenerationOptions | dict | None = None,
        *,
        structured: Structured | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Synchronous twin of ``stream`` for scripts and benchmarks."""
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        rt, req = self._request(model_id, messages, options, events.put, structured=structured)
        rt.submit(req)
        finished = False
        try:
            while True:
                event = events.get()
                if event["type"] in ("done", "error"):
                    finished = True
                yield event
                if finished:
                    return
        finally:
            if not finished:
                req.cancel()

    def generate(
        self,
        model_id: str | None,
        messages: Messages,
        options: GenerationOptions | dict | None = None,
        *,
        structured: Structured | None = None,
    ) -> dict[str, Any]:
        """Run to completion; returns the done event (text, finish_reason, metrics, tool_calls)."""
        last: dict[str, Any] = {}
        for event in self.generate_iter(model_id, messages, options, structured=structured):
            last = event
        if last.get("type") == "error":
            raise error_from_event(last)
        return last

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {}
            for mid, slot in self._slots.items():
                rt = slot.runtime
                base = {"queue_depth": 0, "active": 0, "steps": 0, "mean_batch": 0.0}
                out[mid] = {
                    "state": slot.state,
                    "backend": slot.backend,
                    **base,
                    **(rt.stats() if rt else {}),
                }
            return out

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        for model_id in list(self._slots):
            try:
                self.unload(model_id)
            except Exception:  # pragma: no cover
                log.exception("unloading %s failed", model_id)
        if self._embedder is not None and hasattr(self._embedder, "unload"):
            self._embedder.unload()
        if self._remote is not None:
            self._remote.close()
