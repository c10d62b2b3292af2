"""The local-mode client: the chat core in the kernel's own process.

Used when no Jupyter server hosts the extension (papermill, nbconvert, plain ``python``). It builds
the same core objects as the server (``build_core``) over its own data dir and goes through the
same doors the handlers do: ``core.chat`` for sessions, turns and the store, ``core.engine`` for
models, ``core.rag_service()`` for retrieval. The ChatService async generators run on a private
event loop in a daemon thread: the kernel's own loop is already running, so a magic cannot
``asyncio.run`` anything.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..errors import ChatExtError, NotFound, Unavailable
from ..settings import Settings
from .client import ChatClient, EventStream

if TYPE_CHECKING:
    from ..chat.service import ChatService
    from ..core import Core
    from ..engine.engine import Engine
    from ..rag.service import RagService

_END = object()
HELD_HINT = (
    "When a Jupyter server owns this data dir, let the kernel talk to it (JUPYTER_CHAT_EXT_MODE=server, "
    "or JUPYTER_CHAT_EXT_URL / JUPYTER_CHAT_EXT_TOKEN), or give the kernel another JUPYTER_CHAT_EXT_DATA_DIR."
)


class LocalService(ChatClient):
    """ChatService & co. in-process, behind the synchronous client interface."""

    mode = "local"

    def __init__(self, settings: Settings | None = None, engine: Engine | None = None) -> None:
        """Open the store of ``settings.data_dir``; ``engine``: share an existing Engine (not closed)."""
        from ..core import build_core  # the same composition root as the server

        self.settings = settings or Settings()
        try:
            self.core: Core = build_core(self.settings, engine=engine)
        except Unavailable as exc:  # the Store's own "file in use" error: add the kernel's way out
            raise Unavailable(f"{exc.message}\n{HELD_HINT}", code=exc.code) from exc
        except Exception as exc:
            if isinstance(exc, ChatExtError):
                raise
            raise Unavailable(
                f"cannot open the chat store {self.settings.db_path}: {exc}\n{HELD_HINT}"
            ) from exc
        #: the models door (list, load, unload); the store is reached through ``service`` only
        self.engine: Engine = self.core.engine
        self.service: ChatService = self.core.chat
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="chat-ext-local-loop", daemon=True
        )
        self._thread.start()
        self._closed = False

    # -- plumbing --------------------------------------------------------------------------------
    def _stream(self, make: Callable[[], AsyncIterator[dict[str, Any]]]) -> EventStream:
        """Drive an async generator of events on the private loop; hand them over by a queue."""
        events: queue.Queue[Any] = queue.Queue()

        async def pump() -> None:
            agen = make()
            try:
                async for event in agen:
                    events.put(event)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                events.put(exc)
            finally:
                try:
                    aclose = getattr(agen, "aclose", None)
                    if aclose is not None:
                        await aclose()
                finally:  # even when stop() cancels us inside aclose: stop() waits for _END
                    events.put(_END)

        future: Future[None] = asyncio.run_coroutine_threadsafe(pump(), self._loop)

        ended = threading.Event()  # the consumer has seen the turn's done/error event
        drained = threading.Event()  # ... and the end marker: nothing is left to wait for

        def iterate() -> Iterator[dict[str, Any]]:
            while True:
                # a timeout keeps the wait interruptible (Ctrl-C lands as KeyboardInterrupt here)
                try:
                    item = events.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is _END:
                    drained.set()
                    return
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, dict) and item.get("type") in ("done", "error"):
                    ended.set()
                yield item

        def stop() -> None:
            if future.done() or drained.is_set():
                return  # (waiting for an _END already taken by iterate() cost 30 s a turn)
            if not ended.is_set():
                # cancels the task on the loop: ChatService keeps the partial answer. After a
                # done event the turn is finishing its own writes: let it, do not cut them short
                future.cancel()
            while True:  # wait until the turn is stored as interrupted
                try:
                    if events.get(timeout=30) is _END:
                        return
                except queue.Empty:
                    return

        return EventStream(iterate(), on_close=stop)

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the private loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, "data_dir": str(self.settings.data_dir), "db": str(self.settings.db_path)}

    @property
    def rag(self) -> RagService:
        """The RAG service; Unavailable (with the reason) when it could not start."""
        return self.core.rag_service()

    def health(self) -> dict[str, Any]:
        return {**self.core.health(), "mode": self.mode}  # Core.health: the server's shape too

    def default_model(self) -> str | None:
        return self.settings.default_model

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.core.close()  # leaves a lent engine running
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    # -- models ----------------------------------------------------------------------------------
    def list_models(self) -> list[dict[str, Any]]:
        return self.core.model_list()["models"]  # GET /models' entries: with roles and tools hint

    def get_model(self, model_id: str) -> dict[str, Any]:
        return self.engine.get_model(model_id)

    def start_load(self, model_id: str) -> dict[str, Any]:
        return self.engine.start_load(model_id)

    def unload_model(self, model_id: str) -> dict[str, Any]:
        return self.engine.unload(model_id)

    # -- sessions --------------------------------------------------------------------------------
    def create_session(
        self,
        title: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        return _as_dict(
            self.service.create_session(title=title, model=model, system_prompt=system_prompt, params=params)
        )

    def get_session(self, session_id: str) -> dict[str, Any]:
        return _as_dict(self.service.get_session(session_id))

    def list_sessions(self, q: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        return [_as_dict(s) for s in self.service.list_sessions(q=q, limit=limit, offset=offset)]

    def update_session(self, session_id: str, **fields: Any) -> dict[str, Any]:
        return _as_dict(self.service.update_session(session_id, **fields))

    def delete_session(self, session_id: str) -> None:
        self.service.delete_session(session_id)

    def list_messages(
        self, session_id: str, before: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return [_as_dict(m) for m in self.service.list_messages(session_id, before=before, limit=limit)]

    def switch_branch(self, session_id: str, message_id: int) -> int:
        return self.service.switch_branch(session_id, message_id)

    def export_session(self, session_id: str, fmt: str = "json") -> str:
        return self.service.export_session(session_id, fmt)

    # -- turns -----------------------------------------------------------------------------------
    def chat(
        self,
        session_id: str,
        content: str,
        params: dict[str, Any] | None = None,
        rag: dict[str, Any] | None = None,
        tools: dict[str, Any] | None = None,
        context: list[dict[str, Any]] | None = None,
    ) -> EventStream:
        extra: dict[str, Any] = {"tools": tools} if tools is not None else {}
        if context:
            extra["context"] = context
        return self._stream(lambda: self.service.chat(session_id, content, params=params, rag=rag, **extra))

    def reply_tool_call(
        self, call_id: str, decision: str, result: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        # the broker is thread-safe: the turn waits on the private loop, this runs on the kernel's
        return self.service.reply_tool_call(call_id, decision, result, token)

    def continue_answer(
        self, session_id: str, message_id: int, params: dict[str, Any] | None = None
    ) -> EventStream:
        if self.service.get_message(message_id)["session_id"] != session_id:
            raise NotFound(f"no message {message_id} in session {session_id}")
        return self._stream(lambda: self.service.continue_answer(message_id, params=params))

    # -- retrieval -------------------------------------------------------------------------------
    def list_collections(self) -> list[dict[str, Any]]:
        return self.rag.list_collections()

    def create_collection(self, name: str) -> dict[str, Any]:
        return self.rag.create_collection(name)

    def start_ingest(self, name: str, paths: list[str]) -> dict[str, Any]:
        return self.rag.start_ingest(name, [str(p) for p in paths])

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.rag.get_job(job_id)

    def search(self, name: str, query: str, k: int = 5, mode: str = "hybrid") -> list[dict[str, Any]]:
        return self.rag.search(name, query, k=k, mode=mode)

    # -- store extras ----------------------------------------------------------------------------
    def sql(self, query: str) -> tuple[list[str], list[list[Any]]]:
        columns, rows = self.service.query(query)
        return list(columns), [list(r) for r in rows]

    def cache_get(self, key: str) -> dict[str, Any] | None:
        return self.service.cache_get(key)

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        self.service.cache_put(key, value)


def _as_dict(obj: Any) -> dict[str, Any]:
    """Store rows may be dicts or small objects with ``to_dict()``; the client hands out dicts."""
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    from dataclasses import asdict, is_dataclass

    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    raise TypeError(f"cannot turn {type(obj).__name__} into a dict")
