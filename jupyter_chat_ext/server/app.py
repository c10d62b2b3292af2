"""The Jupyter server extension: configuration (traitlets), start-up and shutdown.

Importing this module must stay cheap (Jupyter imports it at start-up): it pulls in traitlets and
jupyter_server only. The core (torch, transformers, DuckDB, LanceDB) is built in a worker thread
after the server starts, or on the first request that needs it, whichever comes first; the default
model then loads in the background when ``preload_default_model`` is on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, List, Unicode

if TYPE_CHECKING:
    from .core import CoreServices
    from .metrics import ServerMetrics

T = TypeVar("T")


class ChatExtApp(ExtensionApp):
    """Local-first AI chat: a transformers engine, DuckDB history and LanceDB retrieval."""

    name = "jupyter_chat_ext"
    description = __doc__
    load_other_extensions = True

    # -- where things live -------------------------------------------------------------------
    data_dir = Unicode(
        "",
        help="Folder for the chat history (DuckDB) and RAG collections (LanceDB). "
        "Empty: $JUPYTER_CHAT_EXT_DATA_DIR or <jupyter data dir>/chat_ext.",
    ).tag(config=True)
    model_cache_dir = Unicode(
        "",
        help="Folder for converted GGUF models (save_pretrained copies). Empty: "
        "$JUPYTER_CHAT_EXT_MODEL_CACHE or <data_dir>/model-cache.",
    ).tag(config=True)
    model_dirs = List(
        Unicode(),
        default_value=[],
        help="Extra folders scanned for Hugging Face model directories and .gguf files.",
    ).tag(config=True)
    scan_hf_cache = Bool(
        True, help="Also list models found in the offline Hugging Face cache (nothing downloads)."
    ).tag(config=True)

    # -- models ---------------------------------------------------------------------------------
    default_model = Unicode(
        "smollm2-135m-instruct", help="The chat model used when a request names none."
    ).tag(config=True)
    embedding_model = Unicode(
        "all-minilm-l6-v2", help="The embedding model for RAG collections and /v1/embeddings."
    ).tag(config=True)
    device = Unicode("auto", help='Where models run: "auto", "cpu", "cuda", "cuda:1", "mps".').tag(
        config=True
    )
    dtype = Unicode("auto", help='Model weights dtype: "auto", "bfloat16", "float16", "float32".').tag(
        config=True
    )
    quantization = Unicode(
        "",
        help='bitsandbytes quantization on CUDA: "" (none), "4bit" or "8bit". '
        "On CPU the engine reports what it did instead.",
    ).tag(config=True)
    preload_default_model = Bool(
        True,
        help="Load the default model in the background right after the server starts "
        "(never blocks start-up). Off: it loads on first use.",
    ).tag(config=True)

    # -- limits ---------------------------------------------------------------------------------
    max_queue = Int(32, help="Most generation requests waiting for a slot before 429 Busy.").tag(config=True)
    max_batch_size = Int(8, help="Most sequences decoded together in one batch.").tag(config=True)
    context_budget = Int(
        0, help="Cap on prompt + answer in tokens; 0 means the model's own context length."
    ).tag(config=True)
    default_max_tokens = Int(512, help="max_tokens of a request that names none.").tag(config=True)
    max_content_chars = Int(200_000, help="Longest chat message accepted, in characters.").tag(config=True)
    max_body_bytes = Int(
        1_048_576, help="Largest JSON request body accepted by the API routes (413 beyond)."
    ).tag(config=True)
    max_upload_bytes = Int(
        64 * 1_048_576,
        help="Largest body accepted by upload-like routes (session import) (413 beyond).",
    ).tag(config=True)

    # -- runtime state (not config) -------------------------------------------------------------
    def initialize_settings(self) -> None:
        self.started_at = time.time()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="chat-ext")
        self._core: CoreServices | None = None
        self._core_future: asyncio.Future[CoreServices] | None = None
        self._core_error: BaseException | None = None
        self._metrics: ServerMetrics | None = None
        self._closing = False
        self.settings["jupyter_chat_ext_app"] = self

    def initialize_handlers(self) -> None:
        from .routes import build_handlers

        self.handlers.extend(build_handlers())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Build the core (and preload the default model) once the loop runs, without waiting."""
        task = asyncio.ensure_future(self._warm_up())
        self._warm_task = task

    async def _warm_up(self) -> None:
        try:
            await self.core()
        except Exception as exc:  # reported by /health and by every route as 503
            self.log.error("jupyter_chat_ext: the chat core did not start: %s", exc)

    # -- the core ---------------------------------------------------------------------------------
    def build_settings(self) -> Any:
        """Map the traitlets config onto the core's plain Settings dataclass."""
        from jupyter_chat_ext.settings import Settings

        wanted: dict[str, Any] = {
            "model_dirs": list(self.model_dirs),
            "scan_hf_cache": self.scan_hf_cache,
            "default_model": self.default_model,
            "embedding_model": self.embedding_model,
            "device": self.device,
            "dtype": self.dtype,
            "quantization": self.quantization or None,
            "max_queue": self.max_queue,
            "max_batch_size": self.max_batch_size,
            "context_budget": self.context_budget or None,
            "default_max_tokens": self.default_max_tokens,
            "max_content_chars": self.max_content_chars,
        }
        if self.data_dir:
            wanted["data_dir"] = self.data_dir
        if self.model_cache_dir:
            wanted["model_cache_dir"] = self.model_cache_dir
        known = {f.name for f in dataclasses.fields(Settings)}
        return Settings(**{k: v for k, v in wanted.items() if k in known})

    def _build_core(self) -> CoreServices:
        from .core import CoreServices

        core = CoreServices(self.build_settings()).build()
        if self.preload_default_model:
            try:
                core.engine.start_load(core.settings.default_model)
            except Exception as exc:  # the model may be missing: chats then answer 503
                self.log.error("jupyter_chat_ext: preloading %s failed: %s", self.default_model, exc)
        self.log.info("jupyter_chat_ext: core ready in %.2f s", core.built_s or 0.0)
        return core

    async def core(self) -> CoreServices:
        """The core, built on first use in a worker thread; Unavailable when it cannot start."""
        from jupyter_chat_ext.errors import Unavailable

        if self._core is not None:
            return self._core
        if self._closing:
            raise Unavailable("the chat extension is shutting down")
        if self._core_future is None:
            loop = asyncio.get_running_loop()
            self._core_error = None
            self._core_future = loop.run_in_executor(self._executor, self._build_core)
        future = self._core_future
        try:
            core = await asyncio.shield(future)
        except Exception as exc:
            if self._core_future is future:  # let a later request try again (e.g. a lock released)
                self._core_future = None
                self._core_error = exc
            self.log.error("jupyter_chat_ext: the chat core did not start: %s", exc)
            raise Unavailable(f"the chat core did not start: {exc}") from None
        self._core = core
        return core

    @property
    def core_state(self) -> str:
        if self._core is not None:
            return "ready"
        if self._core_future is not None:
            return "starting"
        return "error" if self._core_error is not None else "idle"

    @property
    def core_error(self) -> str | None:
        return None if self._core_error is None else str(self._core_error)

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking core call on the extension's worker threads, never on the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args))

    @property
    def metrics(self) -> ServerMetrics:
        if self._metrics is None:
            from .metrics import ServerMetrics

            self._metrics = ServerMetrics()
        return self._metrics

    # -- shutdown -------------------------------------------------------------------------------
    async def stop_extension(self) -> None:
        """Close ChatService (frees the model, closes LanceDB and DuckDB) and the worker threads."""
        self._closing = True
        core = self._core
        if core is None and self._core_future is not None:
            try:
                core = await asyncio.wait_for(asyncio.shield(self._core_future), timeout=60)
            except Exception:
                core = None
        self._core = None
        self._core_future = None
        if core is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(self._executor, core.close)
            except Exception as exc:
                self.log.error("jupyter_chat_ext: closing the core failed: %s", exc)
        self._executor.shutdown(wait=False, cancel_futures=True)
