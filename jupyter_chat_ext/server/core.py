"""The core objects the server translates to, built once, lazily, off the event loop.

``CoreServices.build`` imports the engine, the store and the RAG service (torch, transformers,
duckdb, lancedb come with them), so it runs in a worker thread the first time a handler needs the
core, or right after the server starts. Nothing heavy is imported at module level.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class CoreServices:
    """Store, Engine, RagService and ChatService over one Settings object."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.store: Any = None
        self.engine: Any = None
        self.rag: Any = None
        self.chat: Any = None
        #: why RAG is not available (import or start failure), for health and the 503 message
        self.rag_error: str | None = None
        self.built_s: float | None = None

    def build(self) -> CoreServices:
        """Open the store, create the (lazy) engine, the RAG service and the chat service."""
        t0 = time.perf_counter()
        from jupyter_chat_ext.chat.service import ChatService
        from jupyter_chat_ext.engine.engine import Engine
        from jupyter_chat_ext.store.store import Store

        Path(self.settings.data_dir).mkdir(parents=True, exist_ok=True)
        self.store = Store(self.settings.db_path)
        try:
            self.engine = Engine(self.settings)
            self.rag = self._build_rag()
            self.chat = ChatService(self.store, self.engine, self.settings, rag=self.rag)
        except BaseException:
            self._close_parts()
            raise
        self.built_s = time.perf_counter() - t0
        return self

    def _build_rag(self) -> Any:
        try:
            from jupyter_chat_ext.rag.service import RagService
        except ImportError as exc:
            self.rag_error = f"RAG not available: {exc}"
            log.warning("jupyter_chat_ext: %s", self.rag_error)
            return None
        try:
            return RagService(self.settings, embedder=self.engine.embedder)
        except Exception as exc:  # a broken LanceDB folder must not take the chat down with it
            self.rag_error = f"RAG not available: {exc}"
            log.exception("jupyter_chat_ext: RAG service failed to start")
            return None

    def _close_parts(self) -> None:
        for part in (self.rag, self.engine, self.store):
            if part is None:
                continue
            try:
                part.close()
            except Exception:  # pragma: no cover - best effort on a failed start
                log.exception("jupyter_chat_ext: closing %r failed", part)

    def close(self) -> None:
        """Free the model, close LanceDB and the DuckDB file (ChatService.close closes them all)."""
        if self.chat is not None:
            self.chat.close()
        else:
            self._close_parts()
        self.chat = self.engine = self.rag = self.store = None
