"""The models an engine serves: their load state, loading and unloading, the embedder.

``ModelSlots`` keeps one ``_Slot`` per chat model (state, progress, the loaded runtime, the
backoff after a failed load). Loads run on their own threads; ``_ready`` is the blocking "loaded
runtime or a clear error" every generation path starts from. At most ``max_loaded_models`` local
models stay loaded (the least recently used goes first; remote models cost nothing to keep).
``Engine`` (engine.py) adds prompts and generation on top.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import Busy, ChatExtError, InvalidInput, ModelError, NotFound, Unavailable
from ..settings import Settings
from . import backends
from .backends.base import ModelRuntime
from .registry import ModelInfo, ModelRegistry

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


class ModelSlots:
    """The registry's models, their slots and the embedder (every method is thread-safe)."""

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

    @property
    def remote_pool(self) -> Any:
        """The remote endpoints' pool, made on first use: providers added at run time need one."""
        with self._lock:
            if self._remote is None:
                from .backends.remote_pool import RemotePool

                self._remote = RemotePool([])
                self.registry.remote = self._remote
            return self._remote

    # -- models -----------------------------------------------------------------------------
    def resolve(self, model_id: str | None) -> str:
        return model_id or self.settings.default_model

    def _describe(self, info: ModelInfo) -> dict[str, Any]:
        data = info.to_dict()
        slot = self._slots.get(info.id)
        backend, notes = backends.choose(info, self.settings) if info.kind == "chat" else ("", [])
        data.update(state="unloaded", progress=0.0, device=None, gpu_layers=None, dtype=None, error=None)
        data.update(quantization=None, weight_bytes=None)
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
                    # llama.cpp: layers on the GPU (-1 all, 0 none); other backends run whole
                    gpu_layers=getattr(rt, "n_gpu_layers", None),
                    dtype=rt.dtype,
                    # transformers: bitsandbytes "4bit"/"8bit" or None, and the bytes the weights
                    # hold (quantization state included); other backends report None
                    quantization=getattr(getattr(rt, "loaded", None), "quantization", None),
                    weight_bytes=getattr(getattr(rt, "loaded", None), "weight_bytes", None),
                    notes=[*slot.notes, *rt.notes],
                    load_s=round(rt.load_s, 3),
                    from_cache=rt.from_cache,
                    context_length=rt.context_length,
                    queue_depth=rt.queue_depth,
                    active=rt.active_count,
                    # the runtime's own counters: llama.cpp's library, KV lanes, prefill pacing...
                    stats=rt.stats(),
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
                if info is not None and info.format == "gguf":  # llama.cpp's embedding mode
                    from .embeddings_llamacpp import LlamaCppEmbedder

                    self._embedder = LlamaCppEmbedder(
                        info.path, model_id=info.id, n_threads=self.settings.n_threads
                    )
                else:
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
