"""The Jupyter server extension: configuration (traitlets), start-up and shutdown.

Importing this module must stay cheap (Jupyter imports it at start-up): it pulls in traitlets,
jupyter_server and the plain ``Settings`` dataclass only. The core (torch, transformers, DuckDB,
LanceDB) is built in a worker thread after the server starts, or on the first request that needs
it, whichever comes first; the default model then loads in the background when
``preload_default_model`` is on.

Every traitlet that feeds the core is generated from its ``Settings`` field (``settings_traits.py``:
one source, the dataclass, help from its comments), and ``build_settings`` copies each such trait
back onto the field of the same name. Only the server's own knobs (preload, body limits, threads)
are declared here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Int, TraitError, validate

from jupyter_chat_ext.settings import Settings

from .settings_traits import settings_traits

if TYPE_CHECKING:
    from jupyter_chat_ext.core import Core

    from .mcp_server import McpEndpoint
    from .metrics import ServerMetrics

T = TypeVar("T")

_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


class ChatExtApp(ExtensionApp):
    """Local-first AI chat: a local LLM engine, DuckDB history and LanceDB retrieval."""

    name = "jupyter_chat_ext"
    description = __doc__
    load_other_extensions = True

    # -- every Settings field, generated: name, type, default and help come from settings.py ----
    # (a class body's namespace is a plain dict: the traits join it before traitlets' metaclass
    # sets the class up, exactly as if they were written here one by one)
    locals().update(settings_traits())

    @validate("remote_endpoints")
    def _endpoints_from_json(self, proposal: Any) -> list[Any]:
        # on the command line the extension's config arrives as strings (its class is unknown
        # when jupyter server parses argv): accept a JSON list or one JSON object per flag. An
        # entry that is not a JSON object is kept as it is: the remote pool skips and reports it
        # (health, /models notes, the log) while everything else starts
        out: list[Any] = []
        for item in proposal["value"]:
            if isinstance(item, str):
                try:
                    item = json.loads(item)
                except ValueError:
                    pass
            out.extend(item if isinstance(item, list) else [item])
        return out

    @validate("model_dirs")
    def _model_dirs_from_json(self, proposal: Any) -> list[str]:
        # '["/models", "/more"]' on the command line arrives as one string: a JSON list, as
        # remote_endpoints accepts it (it used to be taken as a folder named '["/models"]')
        out: list[str] = []
        for item in proposal["value"]:
            text = item.strip() if isinstance(item, str) else item
            if isinstance(text, str) and text.startswith("["):
                try:
                    parsed = json.loads(text)
                except ValueError:
                    parsed = None
                if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
                    out.extend(parsed)
                    continue
            out.append(item)
        return out

    @validate("mcp_servers")
    def _mcp_servers_from_json(self, proposal: Any) -> dict[str, Any]:
        # a JSON object given on the command line arrives as a string (see remote_endpoints); the
        # entries themselves are checked when the registry starts, so one bad server names itself
        value = proposal["value"]
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError as exc:
                raise TraitError(f"mcp_servers: not JSON: {value[:80]!r}") from exc
        if not isinstance(value, dict):
            raise TraitError("mcp_servers: must be a JSON object of server entries")
        return value

    preload_default_model = Bool(
        True,
        help="Load the default model in the background right after the server starts "
        "(never blocks start-up). Off: it loads on first use.",
    ).tag(config=True)

    # -- server-only limits (not Settings fields: the core never reads them) -------------------
    inline_budget_tokens = Int(
        512,
        help="Prompt tokens (prefix + suffix) of an inline completion; the prefix is trimmed from "
        "its far end to fit. Prompt evaluation sets the first ghost token's delay on a CPU "
        "(~1.5-3 characters of code a token): raise it on a GPU.",
    ).tag(config=True)
    max_body_bytes = Int(
        1_048_576,
        help="Largest JSON request body accepted by the API routes (413 beyond, before it is read).",
    ).tag(config=True)
    max_upload_bytes = Int(
        64 * 1_048_576,
        help="Largest body accepted by the upload-like routes (session import, collection upload); "
        "413 beyond, before it is read.",
    ).tag(config=True)
    worker_threads = Int(
        0,
        help="Threads for the short blocking core calls of the handlers; 0: max(8, 2 x cores).",
    ).tag(config=True)
    slow_worker_threads = Int(
        2,
        help="Threads for long reads and writes (SQL, export, import, reindex): their own pool, "
        "so a slow query never takes the threads chats need.",
    ).tag(config=True)

    # -- runtime state (not config) -------------------------------------------------------------
    def initialize_settings(self) -> None:
        from .lazy_core import LazyCore
        from .pools import Pools

        self.started_at = time.time()
        self.pools = Pools(quick=self.worker_threads, slow=self.slow_worker_threads)
        self.lazy_core = LazyCore(self._build_core, self.pools)
        self._metrics: ServerMetrics | None = None
        #: our store + RAG as an MCP server, made on its first request (server/mcp_server.py)
        self.mcp_endpoint: McpEndpoint | None = None
        self.settings["jupyter_chat_ext_app"] = self

    def initialize_handlers(self) -> None:
        from .routes import build_handlers

        self.handlers.extend(build_handlers())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Build the core (and preload the default model) once the loop runs, without waiting."""
        self._warm_task = asyncio.ensure_future(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            await self.core()
        except Exception as exc:  # reported by /health and by every route as 503
            self.log.error("jupyter_chat_ext: the chat core did not start: %s", exc)

    # -- the core ---------------------------------------------------------------------------------
    def build_settings(self) -> Settings:
        """Copy every config trait named like a Settings field onto it ("" / 0 stand for None)."""
        wanted: dict[str, Any] = {}
        traits = self.traits(config=True)
        for name, spec in _FIELDS.items():
            if name not in traits:
                continue
            value = getattr(self, name)
            if spec.default is None and not isinstance(value, bool) and value in ("", 0):
                value = None
            if value == "" and spec.default is dataclasses.MISSING:
                continue  # e.g. data_dir: the dataclass finds its own default
            wanted[name] = list(value) if isinstance(value, list) else value
        return Settings(**wanted)

    def _build_core(self) -> Core:
        from jupyter_chat_ext.core import build_core

        settings = self.build_settings()
        settings.root_dir = Path(self.serverapp.root_dir)  # file tools read under the server's root
        # hidden files follow Jupyter's contents API (404 unless ContentsManager.allow_hidden)
        settings.allow_hidden = bool(getattr(self.serverapp.contents_manager, "allow_hidden", False))
        core = build_core(settings)
        from jupyter_chat_ext.config_report import config_problems

        for problem in config_problems(core.settings, core.engine):  # also in GET /chat-ext/health
            self.log.warning(
                "jupyter_chat_ext: %s %s skipped: %s", problem["setting"], problem["item"], problem["error"]
            )
        if self.preload_default_model:
            try:
                core.engine.start_load(core.settings.default_model)
            except Exception as exc:  # the model may be missing: chats then answer 503
                self.log.error("jupyter_chat_ext: preloading %s failed: %s", self.default_model, exc)
        self.log.info("jupyter_chat_ext: core ready in %.2f s", core.built_s)
        return core

    async def core(self) -> Core:
        """The core, built on first use in a worker thread; Unavailable when it cannot start."""
        return await self.lazy_core.get()

    @property
    def _core(self) -> Core | None:
        """The core when it is built (never starts it): for metrics scrapes and tests."""
        return self.lazy_core.current

    @property
    def core_state(self) -> str:
        return self.lazy_core.state

    @property
    def core_error(self) -> str | None:
        return self.lazy_core.error

    async def run_blocking(self, fn: Callable[..., T], *args: Any, slow: bool = False) -> T:
        """Run a blocking core call on the extension's worker threads, never on the event loop."""
        return await self.pools.run(fn, *args, slow=slow)

    @property
    def metrics(self) -> ServerMetrics:
        if self._metrics is None:
            from .metrics import ServerMetrics

            self._metrics = ServerMetrics()
        return self._metrics

    # -- shutdown -------------------------------------------------------------------------------
    async def stop_extension(self) -> None:
        """Close ChatService (frees the model, closes LanceDB and DuckDB) and the worker threads."""
        if self.mcp_endpoint is not None:
            await self.mcp_endpoint.close()
        await self.lazy_core.close()
        self.pools.shutdown()
