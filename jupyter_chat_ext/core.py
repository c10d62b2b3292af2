"""The composition root: one place builds Store + Engine + RagService + ChatService for every door.

The Jupyter server (``server/lazy_core.py``) and the kernel's in-process service
(``kernel/local_service.py``) both call :func:`build_core`, so they open the same parts the same
way and report one health shape. Nothing heavy is imported at module level (Jupyter imports the
server extension at start-up): torch, transformers, duckdb and lancedb come in with ``build_core``,
which doors call off their event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_chat_ext.errors import Unavailable

if TYPE_CHECKING:
    from jupyter_chat_ext.chat.service import ChatService
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.jobs import JobRunner
    from jupyter_chat_ext.providers import ProviderService
    from jupyter_chat_ext.rag.service import RagService
    from jupyter_chat_ext.settings import Settings
    from jupyter_chat_ext.store.store import Store
    from jupyter_chat_ext.tools.registry import ToolRegistry

log = logging.getLogger(__name__)


@dataclass
class Core:
    """The core objects over one Settings: the one set of services every door calls.

    ``chat`` (ChatService) is the door for sessions, messages, turns, history search, the SQL door
    and the cache: doors never touch ``store``. Models are the ``engine``'s (get, load, unload,
    raw completions, embeddings), with the views that join it to the hub here (``model_list``,
    ``delete_model``, ``installed``, ``roles_view``/``set_roles``); retrieval is ``rag_service()``,
    tools ``tools``, background work ``job_runner()``. The two accessors raise the 503 a door
    answers when that part is missing.
    """

    settings: Settings
    store: Store
    engine: Engine
    chat: ChatService
    rag: RagService | None = None
    #: why RAG is not available (import or start failure), for health and the 503 message
    rag_error: str | None = None
    #: seconds build_core took
    built_s: float = 0.0
    #: False when the engine was lent by the caller (then close() leaves it running)
    owns_engine: bool = True
    #: the tools an agent turn may call (built-in, notebook, MCP servers); MCP starts lazily
    tools: ToolRegistry | None = None
    #: the background jobs of every kind (ingest, upload, pull), one runner for all doors
    jobs: JobRunner | None = None
    #: OpenAI-compatible providers added at run time (jupyter_chat_ext/providers/)
    providers: ProviderService | None = None

    def rag_service(self) -> RagService:
        """The RAG service; Unavailable (503 ``rag_unavailable``) saying why it did not start."""
        if self.rag is None:
            raise Unavailable(self.rag_error or "RAG not available", code="rag_unavailable")
        return self.rag

    def job_runner(self) -> JobRunner:
        """The background jobs (ingest, upload, pull); Unavailable (503) once the core is closed."""
        if self.jobs is None:
            raise Unavailable("the job runner is not available")
        return self.jobs

    # -- models: the engine joined to the hub (roles, pulls), one composition for every door ------
    def model_list(self) -> dict[str, Any]:
        """``{models, notes}``: every model with its roles and tools hint, and the configured
        sources that are not in use, with why (a bad endpoint, a missing folder). Blocking."""
        from jupyter_chat_ext.config_report import config_problems
        from jupyter_chat_ext.hub.roles import with_roles
        from jupyter_chat_ext.hub.tools_hint import with_tools_hint

        models = with_roles(with_tools_hint(self.engine.list_models()), self.engine)
        notes = [p for p in config_problems(self.settings, self.engine) if p["setting"] != "mcp_servers"]
        return {"models": models, "notes": notes}

    def delete_model(self, model_id: str) -> dict[str, Any]:
        """Remove a model pulled from the Hub (unloaded first); 403 for packaged and folder models."""
        from jupyter_chat_ext.hub.pull_jobs import delete_pulled

        return delete_pulled(self.settings, self.engine, self.jobs, model_id)

    def installed(self) -> Callable[[str, str | None], str | None]:
        """``lookup(repo, file)`` -> the id of the pulled model of that file, None when not pulled."""
        from jupyter_chat_ext.hub.installed import installed_lookup

        return installed_lookup(self.engine.registry.all())

    def roles_view(self) -> dict[str, Any]:
        """The models of each role, configured and in use (GET /roles, ``%chat roles``)."""
        from jupyter_chat_ext.hub import roles

        return roles.roles_view(self.engine)

    def set_roles(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Check, save and apply new role models; a new embedding model rebinds RAG's chunker."""
        from jupyter_chat_ext.hub import roles

        def rebind() -> None:
            roles.switch_embedder(self.engine, self.rag)

        return roles.update_roles(self.engine, changes, on_embedding_change=rebind)

    def health(self) -> dict[str, Any]:
        """``{status, version, engine, store, rag}``: blocking (reads the store), call it in a thread."""
        from jupyter_chat_ext import __version__
        from jupyter_chat_ext.config_report import config_problems

        models = self.engine.list_models()
        return {
            "status": "ok",
            "version": __version__,
            "engine": {
                "default_model": self.settings.default_model,
                "device": self.settings.device,
                "models": len(models),
                "loaded": [
                    {"id": m.get("id"), "device": m.get("device"), "dtype": m.get("dtype")}
                    for m in models
                    if m.get("state") == "loaded"
                ],
                "loading": [m.get("id") for m in models if m.get("state") == "loading"],
                "queue_depth": engine_queue_depth(self.engine),
            },
            "store": {"path": str(self.settings.db_path), "sessions": self.store.count_sessions()},
            "rag": {"available": self.rag is not None, "error": self.rag_error},
            # configured parts that were skipped (a bad endpoint, a missing model folder, ...)
            "problems": config_problems(self.settings, self.engine, self.tools),
        }

    def close(self) -> None:
        """Free the model (when ours), close LanceDB and the DuckDB file; safe to call twice.

        The parts are dropped first, so a door that still holds this Core sees None, not a closed
        store it could write to.
        """
        chat, tools, jobs = self.chat, self.tools, self.jobs
        if chat is None:
            return
        self.chat = self.store = self.engine = self.rag = self.tools = self.jobs = None  # type: ignore[assignment]
        if jobs is not None:
            _close_quietly(jobs)  # running jobs stop at their next check as interrupted (resumable)
        if tools is not None:
            _close_quietly(tools)  # stops the MCP server processes before the model goes
        chat.close(close_engine=self.owns_engine)


def build_core(settings: Settings, *, engine: Engine | None = None) -> Core:
    """Open the store, create the (lazy) engine, the RAG service and the chat service.

    ``engine``: share an Engine that is already running (the caller keeps owning it). A RAG
    service that cannot start is reported in ``rag_error`` instead of failing the whole core:
    chats work without retrieval. Any other failure closes what was opened and raises.
    """
    t0 = time.perf_counter()
    from jupyter_chat_ext.chat.service import ChatService
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.jobs import JobRunner
    from jupyter_chat_ext.providers import ProviderService
    from jupyter_chat_ext.store.store import Store
    from jupyter_chat_ext.tools.registry import ToolRegistry

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    from jupyter_chat_ext.hub.roles import apply_saved_roles

    apply_saved_roles(settings)  # the roles chosen in the sidebar / %chat roles (roles.json)
    store = Store(settings.db_path)
    owns_engine = engine is None
    rag = jobs = None
    try:
        if engine is None:
            engine = Engine(settings)
        jobs = JobRunner(Path(settings.data_dir) / "jobs")
        _register_pulls(settings, engine, jobs)
        rag, rag_error = _build_rag(settings, engine, jobs)
        tools = ToolRegistry.from_settings(settings)  # cheap: no MCP server starts before first use
        chat = ChatService(store, engine, settings, rag=rag, tools=tools)  # agent turns call them
        # the saved providers join the configured endpoints (a bad one is reported, not fatal)
        providers = ProviderService(settings, engine).start()
    except BaseException:
        _close_quietly(jobs, rag, engine if owns_engine else None, store)
        raise
    return Core(
        settings=settings,
        store=store,
        engine=engine,
        chat=chat,
        rag=rag,
        rag_error=rag_error,
        built_s=time.perf_counter() - t0,
        owns_engine=owns_engine,
        tools=tools,
        providers=providers,
        jobs=jobs,
    )


def _register_pulls(settings: Settings, engine: Engine, jobs: JobRunner) -> None:
    """Model pulls run as jobs of this runner (hub/pull.py); without huggingface_hub there are none."""
    try:
        from jupyter_chat_ext.hub.pull_jobs import register_pulls
    except ImportError as exc:
        log.warning("jupyter_chat_ext: model pulls not available: %s", exc)
        return
    register_pulls(settings, engine, jobs)


def _build_rag(settings: Settings, engine: Engine, jobs: JobRunner) -> tuple[RagService | None, str | None]:
    try:
        from jupyter_chat_ext.rag.service import RagService
    except ImportError as exc:
        log.warning("jupyter_chat_ext: RAG not available: %s", exc)
        return None, f"RAG not available: {exc}"
    try:
        return RagService(settings, embedder=engine.embedder, jobs=jobs), None
    except Exception as exc:  # a broken LanceDB folder must not take the chat down with it
        log.exception("jupyter_chat_ext: RAG service failed to start")
        return None, f"RAG not available: {exc}"


def _close_quietly(*parts: Any) -> None:
    for part in parts:
        if part is None:
            continue
        try:
            part.close()
        except Exception:  # pragma: no cover - best effort on a failed start
            log.exception("jupyter_chat_ext: closing %r failed", part)


def engine_queue_depth(engine: Engine) -> int | None:
    """Requests waiting or decoding in the engine (sum over loaded models), None if unknown."""
    try:
        data = engine.stats()
    except Exception:
        return None
    if not isinstance(data, dict):
        return None
    total = 0
    for per_model in data.values():
        if isinstance(per_model, dict):
            total += int(per_model.get("queue_depth") or 0) + int(per_model.get("active") or 0)
    return total
