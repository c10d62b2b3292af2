"""Engine facade: registry + loaded models + their batchers + the embedder.

Every blocking step (loading, decoding) runs on worker threads; ``stream`` is an async generator
that receives tokens through an asyncio queue fed with ``call_soon_threadsafe``, so the caller's
event loop never waits on the model.
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

from ..errors import Busy, ChatExtError, InvalidInput, ModelError, NotFound, PayloadTooLarge, Unavailable
from ..settings import Settings
from .batcher import Batcher, GenRequest
from .loader import LoadedModel, load_chat_model
from .options import GenerationOptions
from .registry import ModelInfo, ModelRegistry

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]


@dataclass
class _Slot:
    state: str = "unloaded"  # unloaded | loading | loaded | error
    progress: float = 0.0
    message: str = ""
    error: str | None = None
    loaded: LoadedModel | None = None
    batcher: Batcher | None = None
    done: threading.Event = field(default_factory=threading.Event)
    last_used: float = 0.0


class Engine:
    def __init__(self, settings: Settings, *, max_loaded_models: int = 2) -> None:
        self.settings = settings
        self.registry = ModelRegistry(settings)
        self.max_loaded_models = max_loaded_models
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.RLock()
        self._embedder: Any = None
        self._closed = False
        self.started_at = time.time()

    # -- models -----------------------------------------------------------------------------
    def resolve(self, model_id: str | None) -> str:
        return model_id or self.settings.default_model

    def _describe(self, info: ModelInfo) -> dict[str, Any]:
        data = info.to_dict()
        slot = self._slots.get(info.id)
        data.update(state="unloaded", progress=0.0, device=None, dtype=None, error=None, notes=[])
        emb = self._embedder
        is_default_embedder = info.kind == "embedding" and info.id == self.settings.embedding_model
        if is_default_embedder and emb is not None and getattr(emb, "loaded", False):
            data.update(state="loaded", progress=1.0, device=getattr(emb, "device", "cpu"))
        if slot is not None:
            data.update(state=slot.state, progress=round(slot.progress, 3), error=slot.error)
            data["message"] = slot.message
            if slot.loaded is not None:
                data.update(
                    device=slot.loaded.device,
                    dtype=slot.loaded.dtype,
                    notes=slot.loaded.notes,
                    load_s=round(slot.loaded.load_s, 3),
                    from_cache=slot.loaded.from_cache,
                    context_length=slot.loaded.context_length,
                )
            if slot.batcher is not None:
                data.update(queue_depth=slot.batcher.queue_depth, active=slot.batcher.active_count)
        return data

    def list_models(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._describe(info) for info in self.registry.all()]

    def get_model(self, model_id: str) -> dict[str, Any]:
        info = self.registry.get(model_id)
        with self._lock:
            return self._describe(info)

    def loaded_models(self) -> list[str]:
        with self._lock:
            return [mid for mid, s in self._slots.items() if s.state == "loaded"]

    def start_load(self, model_id: str) -> dict[str, Any]:
        """Begin loading in a background thread; poll ``get_model`` for progress."""
        info = self.registry.get(model_id)
        if info.kind == "embedding":
            threading.Thread(target=self._load_embedder_safely, daemon=True).start()
            return self.get_model(model_id)
        with self._lock:
            slot = self._slots.get(model_id)
            if slot is None or slot.state in ("unloaded", "error"):
                slot = _Slot(state="loading", message="queued")
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
            loaded = load_chat_model(info, self.settings, progress)
            batcher = Batcher(
                loaded.model,
                loaded.tokenizer,
                model_id=info.id,
                device=loaded.device,
                eos_token_ids=loaded.eos_token_ids,
                context_length=self._budget(loaded),
                max_batch_size=self.settings.max_batch_size,
                max_queue=self.settings.max_queue,
            )
            with self._lock:
                slot.loaded, slot.batcher = loaded, batcher
                slot.state, slot.progress, slot.message = "loaded", 1.0, "loaded"
                slot.last_used = time.monotonic()
        except ChatExtError as exc:
            slot.state, slot.error, slot.message = "error", exc.message, "failed"
        except Exception as exc:  # pragma: no cover - load_chat_model wraps errors already
            slot.state, slot.error, slot.message = "error", str(exc), "failed"
        finally:
            slot.done.set()

    def _budget(self, loaded: LoadedModel) -> int:
        ctx = loaded.context_length
        if self.settings.context_budget:
            ctx = min(ctx, self.settings.context_budget)
        return ctx

    def _evict_for(self, model_id: str) -> None:
        with self._lock:
            loaded = [
                (s.last_used, mid)
                for mid, s in self._slots.items()
                if s.state == "loaded" and mid != model_id
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
            if slot.batcher is not None:
                slot.batcher.close()
            slot.loaded = slot.batcher = None
            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except Exception:  # pragma: no cover
                pass
        return self.get_model(model_id)

    def _ready(self, model_id: str | None) -> tuple[str, _Slot]:
        model_id = self.resolve(model_id)
        info = self.registry.get(model_id)
        if info.kind != "chat":
            raise InvalidInput(f"'{model_id}' is an embedding model; it cannot chat", code="wrong_model_kind")
        with self._lock:
            slot = self._slots.get(model_id)
        if slot is None or slot.state != "loaded":
            self.load(model_id)
            with self._lock:
                slot = self._slots[model_id]
        slot.last_used = time.monotonic()
        return model_id, slot

    async def ensure_loaded(self, model_id: str | None) -> str:
        """Load the model if needed without blocking the event loop; returns the resolved id."""
        model_id = self.resolve(model_id)
        self.registry.get(model_id)  # NotFound before any thread hop
        with self._lock:
            slot = self._slots.get(model_id)
        if slot is None or slot.state != "loaded":
            await asyncio.get_running_loop().run_in_executor(None, self.load, model_id)
        return model_id

    def check_capacity(self, model_id: str | None) -> None:
        """Raise Busy now if the model's queue is full (so a door refuses before writing anything)."""
        with self._lock:
            slot = self._slots.get(self.resolve(model_id))
        batcher = slot.batcher if slot is not None else None
        if batcher is not None and batcher.queue_depth >= batcher.max_queue:
            raise Busy(f"the generation queue of '{batcher.model_id}' is full ({batcher.max_queue} waiting)")

    # -- prompts ----------------------------------------------------------------------------
    def tokenizer(self, model_id: str | None) -> Any:
        _, slot = self._ready(model_id)
        assert slot.loaded is not None
        return slot.loaded.tokenizer

    def context_length(self, model_id: str | None) -> int:
        _, slot = self._ready(model_id)
        assert slot.batcher is not None
        return slot.batcher.context_length

    def prompt_ids(self, model_id: str | None, messages: Messages) -> list[int]:
        tok = self.tokenizer(model_id)
        if not isinstance(messages, list) or not messages:
            raise InvalidInput("messages must be a non-empty list")
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
                raise InvalidInput("each message needs a role of system, user or assistant")
            if not isinstance(m.get("content"), str):
                raise InvalidInput("each message needs string content")
        if tok.chat_template:
            ids = tok.apply_chat_template(
                [{"role": m["role"], "content": m["content"]} for m in messages],
                add_generation_prompt=True,
                tokenize=True,
                return_dict=False,
            )
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            return [int(i) for i in ids]
        # a base model without a template: plain "role: content" transcript
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
        return [int(i) for i in tok(text)["input_ids"]]

    def count_prompt_tokens(self, model_id: str | None, messages: Messages) -> int:
        return len(self.prompt_ids(model_id, messages))

    def count_tokens(self, model_id: str | None, text: str) -> int:
        return len(self.tokenizer(model_id)(text, add_special_tokens=False)["input_ids"])

    # -- generation -------------------------------------------------------------------------
    def _request(
        self, model_id: str | None, messages: Messages, options: GenerationOptions | dict | None, sink: Any
    ) -> tuple[Batcher, GenRequest]:
        opts = GenerationOptions.from_any(options)
        model_id, slot = self._ready(model_id)
        batcher = slot.batcher
        assert batcher is not None
        ids = self.prompt_ids(model_id, messages)
        ctx = batcher.context_length
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
        req = GenRequest(prompt_ids=ids, options=opts, max_new_tokens=max_new, sink=sink)
        return batcher, req

    async def stream(
        self, model_id: str | None, messages: Messages, options: GenerationOptions | dict | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield token events then one done (or error) event; closing early cancels the request."""
        model_id = await self.ensure_loaded(model_id)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        def sink(event: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        batcher, req = self._request(model_id, messages, options, sink)
        batcher.submit(req)
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
                req.cancel()

    def generate_iter(
        self, model_id: str | None, messages: Messages, options: GenerationOptions | dict | None = None
    ) -> Iterator[dict[str, Any]]:
        """Synchronous twin of ``stream`` for scripts and benchmarks."""
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        batcher, req = self._request(model_id, messages, options, events.put)
        batcher.submit(req)
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
        self, model_id: str | None, messages: Messages, options: GenerationOptions | dict | None = None
    ) -> dict[str, Any]:
        """Run to completion; returns the done event (text, finish_reason, metrics)."""
        last: dict[str, Any] = {}
        for event in self.generate_iter(model_id, messages, options):
            last = event
        if last.get("type") == "error":
            raise ModelError(last.get("message", "generation failed"))
        return last

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out = {}
            for mid, slot in self._slots.items():
                b = slot.batcher
                out[mid] = {
                    "state": slot.state,
                    "queue_depth": b.queue_depth if b else 0,
                    "active": b.active_count if b else 0,
                    "steps": b.steps if b else 0,
                    "mean_batch": (b.batch_size_sum / b.steps) if b and b.steps else 0.0,
                }
            return out

    # -- embeddings -------------------------------------------------------------------------
    @property
    def embedder(self) -> Any:
        with self._lock:
            if self._embedder is None:
                from .embeddings import Embedder
                from .loader import pick_device

                info = None
                try:
                    info = self.registry.get(self.settings.embedding_model)
                except NotFound:
                    pass
                device = pick_device(self.settings.device)
                kwargs: dict[str, Any] = {"device": device, "dtype": self.settings.dtype}
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
