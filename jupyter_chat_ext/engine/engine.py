"""Engine facade: registry + loaded model runtimes (one backend each) + the embedder.

``Engine`` routes: ``backends.choose`` picks llama.cpp, transformers or remote for each model, the
runtime does the work on its own threads, and ``stream`` turns the runtime's thread-side sink calls
into async events through an asyncio queue fed with ``call_soon_threadsafe``, so the caller's event
loop never waits on a model. Prompt rendering and tokenizing run in worker threads too.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    Busy,
    ChatExtError,
    InvalidInput,
    ModelError,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    error_from_event,
)
from ..settings import Settings
from . import backends
from .backends.base import GenRequest, Messages, ModelRuntime
from .options import GenerationOptions
from .registry import ModelInfo, ModelRegistry
from .structured import Structured
from .structured_prompt import check_messages, prompt_messages

__all__ = ["Engine", "check_messages"]

log = logging.getLogger(__name__)

#: first wait after a failed load before a request may trigger another one (doubles, capped)
LOAD_RETRY_S = 30.0
LOAD_RETRY_MAX_S = 600.0


@dataclass
class _Slot:
    state: str = "unloaded"  # unloaded | loading | loaded | error
    progress: float = 0.0
    message: str = ""
    error: str | None = None
    backend: str = ""
    notes: list[str] = field(default_factory=list)
    runtime: ModelRuntime | None = None
    done: threading.Event = field(default_factory=threading.Event)
    last_used: float = 0.0
    failures: int = 0
    retry_at: float = 0.0

    @property
    def batcher(self) -> Any:
        """The transformers runtime's batcher (tests and bench_engine look at its counters)."""
        return getattr(self.runtime, "batcher", None)


class Engine:
    def __init__(self, settings: Settings, *, max_loaded_models: int = 2) -> None:
        self.settings = settings
        self._remote: Any = None
        if getattr(settings, "remote_endpoints", None):
            from .backends.remote_pool import RemotePool

            self._remote = RemotePool(settings.remote_endpoints)
        self.registry = ModelRegistry(settings, remote=self._remote)
        self.max_loaded_models = max_loaded_models
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.RLock()
        self._embedder: Any = None
        self._closed = False
        self.started_at = time.time()
        #: requests whose consumer left before the end (bench_completion counts typing's cancels)
        self.cancelled_requests = 0

    # -- models -----------------------------------------------------------------------------
    def resolve(self, model_id: str | None) -> str:
        return model_id or self.settings.default_model

    def _describe(self, info: ModelInfo) -> dict[str, Any]:
        data = info.to_dict()
        slot = self._slots.get(info.id)
        backend, notes = backends.choose(info, self.settings) if info.kind == "chat" else ("", [])
        data.update(state="unloaded", progress=0.0, device=None, dtype=None, error=None)
        data.update(backend=backend or None, notes=notes)
        emb = self._embedder
        is_default_embedder = info.kind == "embedding" and info.id == self.settings.embedding_model
        if is_default_embedder and emb is not None and getattr(emb, "loaded", False):
            data.update(state="loaded", progress=1.0, device=getattr(emb, "device", "cpu"))
        if slot is not None:
            data.update(state=slot.state, progress=round(slot.progress, 3), error=slot.error)
            data["message"] = slot.message
            rt = slot.runtime
            if rt is not None:
                data.update(
                    backend=rt.backend,
                    device=rt.device,
                    dtype=rt.dtype,
                    notes=[*slot.notes, *rt.notes],
                    load_s=round(rt.load_s, 3),
                    from_cache=rt.from_cache,
                    context_length=rt.context_length,
                    queue_depth=rt.queue_depth,
                    active=rt.active_count,
                )
            if slot.state == "error":
                data["retry_in_s"] = round(max(0.0, slot.retry_at - time.monotonic()), 1)
        return data

    def list_models(self) -> list[dict[str, Any]]:
        infos = self.registry.all()
        with self._lock:
            return [self._describe(info) for info in infos]

    def get_model(self, model_id: str) -> dict[str, Any]:
        info = self.registry.get(model_id)
        with self._lock:
            return self._describe(info)

    def loaded_models(self) -> list[str]:
        with self._lock:
            return [mid for mid, s in self._slots.items() if s.state == "loaded"]

    def start_load(self, model_id: str) -> dict[str, Any]:
        """Begin loading in a background thread; poll ``get_model`` for progress.

        An explicit load always retries a model whose last load failed (requests wait for the
        backoff instead: see ``_ready``).
        """
        info = self.registry.get(model_id)
        if info.kind == "embedding":
            threading.Thread(target=self._load_embedder_safely, daemon=True).start()
            return self.get_model(model_id)
        with self._lock:
            slot = self._slots.get(model_id)
            if slot is None or slot.state in ("unloaded", "error"):
                failures = slot.failures if slot is not None else 0
                slot = _Slot(state="loading", message="queued", failures=failures)
                self._slots[model_id] = slot
                threading.Thread(target=self._load_into, args=(info, slot), daemon=True).start()
        return self.get_model(model_id)

    def load(self, model_id: str) -> dict[str, Any]:
        """Load and wait (blocking: call it off the event loop)."""
        if self._closed:
            raise Unavailable("the engine is shut down")
        info = self.registry.get(model_id)
        if info.kind == "embedding":
            self.embedder.load()
            return self.get_model(model_id)
        self.start_load(model_id)
        with self._lock:
            slot = self._slots[model_id]
        slot.done.wait()
        if slot.state == "error":
            raise ModelError(slot.error or f"loading '{model_id}' failed")
        return self.get_model(model_id)

    def _load_embedder_safely(self) -> None:
        try:
            self.embedder.load()
        except Exception:
            log.exception("embedding model failed to load")

    def _load_into(self, info: ModelInfo, slot: _Slot) -> None:
        def progress(fraction: float, message: str) -> None:
            slot.progress, slot.message = fraction, message

        try:
            self._evict_for(info.id)
            name, notes = backends.choose(info, self.settings)
            slot.backend, slot.notes = name, notes
            runtime = backends.get_backend(name, self.settings, self._remote).load(
                info, self.settings, progress
            )
            with self._lock:
                slot.runtime = runtime
                slot.state, slot.progress, slot.message = "loaded", 1.0, "loaded"
                slot.last_used = time.monotonic()
                slot.failures = 0
        except Exception as exc:
            message = exc.message if isinstance(exc, ChatExtError) else f"loading '{info.id}' failed: {exc}"
            if not isinstance(exc, ChatExtError):  # pragma: no cover - backends wrap their errors
                log.exception("loading %s failed", info.id)
            slot.failures += 1
            wait = min(LOAD_RETRY_MAX_S, LOAD_RETRY_S * 2 ** (slot.failures - 1))
            slot.retry_at = time.monotonic() + wait
            slot.state, slot.error, slot.message = "error", message, "failed"
        finally:
            slot.done.set()

    def _evict_for(self, model_id: str) -> None:
        with self._lock:
            loaded = [
                (s.last_used, mid)
                for mid, s in self._slots.items()
                if s.state == "loaded" and mid != model_id and s.backend != "remote"
            ]
        while len(loaded) >= self.max_loaded_models:
            loaded.sort()
            _, victim = loaded.pop(0)
            log.info("unloading %s to make room for %s", victim, model_id)
            self.unload(victim)

    def unload(self, model_id: str) -> dict[str, Any]:
        info = self.registry.get(model_id)
        if info.kind == "embedding":
            if self._embedder is not None and hasattr(self._embedder, "unload"):
                self._embedder.unload()
            return self.get_model(model_id)
        with self._lock:
            slot = self._slots.pop(model_id, None)
        if slot is not None:
            if slot.state == "loading":
                slot.done.wait()
            if slot.runtime is not None:
                slot.runtime.close()
            slot.runtime = None
            gc.collect()
        return self.get_model(model_id)

    def _ready(self, model_id: str | None) -> tuple[str, ModelRuntime]:
        """The loaded runtime of a chat model, loading it if needed (blocking)."""
        model_id = self.resolve(model_id)
        info = self.registry.get(model_id)
        if info.kind != "chat":
            raise InvalidInput(f"'{model_id}' is an embedding model; it cannot chat", code="wrong_model_kind")
        with self._lock:
            slot = self._slots.get(model_id)
        if slot is not None and slot.state == "error" and time.monotonic() < slot.retry_at:
            raise self._load_failed(model_id, slot)
        if slot is None or slot.state != "loaded":
            try:
                self.load(model_id)
            except ModelError:
                with self._lock:
                    slot = self._slots.get(model_id)
                if slot is None:
                    raise
                raise self._load_failed(model_id, slot) from None
            with self._lock:
                slot = self._slots.get(model_id)
        if slot is None or slot.runtime is None:  # an unload won the race (found by fuzzing: was a 500)
            raise Unavailable(f"model '{model_id}' was unloaded while this request waited; retry")
        slot.last_used = time.monotonic()
        return model_id, slot.runtime

    @staticmethod
    def _load_failed(model_id: str, slot: _Slot) -> Unavailable:
        wait = max(1.0, slot.retry_at - time.monotonic())
        return Unavailable(
            f"model '{model_id}' failed to load: {slot.error}. Requests will try again in "
            f"{wait:.0f} s; load it explicitly (POST models/{model_id}/load) to retry now",
            code="model_load_failed",
            retry_after=wait,
        )

    def runtime(self, model_id: str | None) -> ModelRuntime:
        """The loaded runtime (blocking load if needed)."""
        return self._ready(model_id)[1]

    async def ensure_loaded(self, model_id: str | None) -> str:
        """Load the model if needed without blocking the event loop; returns the resolved id."""
        model_id = self.resolve(model_id)
        with self._lock:
            slot = self._slots.get(model_id)
        if slot is None or slot.state != "loaded":
            await asyncio.get_running_loop().run_in_executor(None, self._ready, model_id)
        return model_id

    def check_capacity(self, model_id: str | None) -> None:
        """Raise Busy now if the model's queue is full (so a door refuses before writing anything)."""
        with self._lock:
            slot = self._slots.get(self.resolve(model_id))
        rt = slot.runtime if slot is not None else None
        if rt is not None and rt.queue_depth >= rt.max_queue:
            raise Busy(f"the generation queue of '{rt.model_id}' is full ({rt.max_queue} waiting)")

    def capabilities(self, model_id: str | None) -> dict[str, Any]:
        """What the model's backend can do (loads the model: call off the event loop)."""
        return self.runtime(model_id).capabilities()

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
        if opts.max_tokens is not None and opts.max_tokens >= ctx:
            raise InvalidInput(
                f"max_tokens {opts.max_tokens} is above the model's context of {ctx} tokens",
                code="invalid_option",
            )
        if len(ids) >= ctx:
            raise PayloadTooLarge(
                f"the prompt is {len(ids)} tokens; the model's context is {ctx} tokens",
                code="prompt_too_long",
            )
        wanted = opts.max_tokens or self.settings.default_max_tokens
        max_new = max(1, min(wanted, ctx - len(ids)))
        req = GenRequest(prompt_ids=ids, options=opts, max_new_tokens=max_new, sink=sink, **extra)
        return rt, req

    async def _events(self, build: Any) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def sink(event: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

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
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield token events then one done (or error) event; closing early cancels the request.

        ``structured`` (engine/structured.py) constrains the answer to JSON or a tool call; a tool
        call comes back in the done event (``finish_reason: "tool_calls"``, ``tool_calls``), never
        in token events.
        """
        model_id = await self.ensure_loaded(model_id)

        def build(sink: Any) -> tuple[ModelRuntime, GenRequest]:
            return self._request(model_id, messages, options, sink, structured=structured)

        async for event in self._events(build):
            yield event

    async def stream_text(
        self,
        model_id: str | None,
        prompt: str,
        options: GenerationOptions | dict | None = None,
        *,
        suffix: str | None = None,
        structured: Structured | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Raw-prompt completion (no chat template): the same events as ``stream``.

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

        async for event in self._events(build):
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

    # -- embeddings -------------------------------------------------------------------------
    @property
    def embedder(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from .embeddings import Embedder

                info = None
                try:
                    info = self.registry.get(self.settings.embedding_model)
                except (NotFound, Unavailable):
                    pass
                # "auto" is resolved by the Embedder when it loads: building the core must not
                # import torch (~250 MB) when the chat model runs on llama.cpp
                kwargs: dict[str, Any] = {"device": self.settings.device, "dtype": self.settings.dtype}
                if info is not None and info.source != "packaged":
                    kwargs["model_dir"] = info.path
                    kwargs["model_id"] = info.id
                self._embedder = Embedder(**kwargs)
            return self._embedder

    def embed(self, texts: list[str], model_id: str | None = None) -> Any:
        if model_id not in (None, self.settings.embedding_model):
            info = self.registry.get(model_id)  # NotFound for unknown ids
            raise InvalidInput(
                f"'{info.id}' is not the configured embedding model ({self.settings.embedding_model})",
                code="wrong_model_kind",
            )
        return self.embedder.embed(texts)

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
