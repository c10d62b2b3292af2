"""The one client interface every kernel-side door (magics, widgets, reports) talks to.

Two implementations share it:

- :class:`~jupyter_chat_ext.kernel.http_client.HttpClient` talks HTTP + SSE to the Jupyter server
  that hosts the extension (``mode == "server"``), so the sidebar, the magics and the widgets see
  the same sessions and the same loaded model;
- :class:`~jupyter_chat_ext.kernel.local_service.LocalService` runs the core in-process
  (``mode == "local"``) when no server is there (papermill, nbconvert, plain ``python``).

All methods are synchronous (a magic runs on the kernel's main thread while the kernel's own event
loop is busy). Turns return an :class:`EventStream`: iterate it for the ChatService events
(``start``, ``token``..., ``done`` | ``error``) and ``close()`` it to stop generation; the partial
answer is then kept with status ``interrupted``.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import ChatExtError, ModelError, Unavailable

#: ``progress(fraction, detail)``: fraction in 0..1, detail the latest ModelInfo / job dict
ProgressCallback = Callable[[float, dict[str, Any]], None]


class EventStream(Iterator[dict[str, Any]]):
    """An iterator of turn events with an explicit, idempotent ``close()`` (stops generation)."""

    def __init__(self, events: Iterator[dict[str, Any]], on_close: Callable[[], None]) -> None:
        self._events = events
        self._on_close = on_close
        self._closed = False

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._closed:
            raise StopIteration
        return next(self._events)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._on_close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChatClient(abc.ABC):
    """Synchronous facade over the chat core, local or remote."""

    #: "server" or "local"
    mode: str = ""

    # -- connection ------------------------------------------------------------------------------
    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """Where this client points: mode, url or data dir, ... (for ``%chat status``)."""

    @abc.abstractmethod
    def health(self) -> dict[str, Any]: ...

    def default_model(self) -> str | None:
        """The model a session without one of its own uses (from ``health``)."""
        engine = self.health().get("engine") or {}
        return engine.get("default_model") if isinstance(engine, dict) else None

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- models ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def list_models(self) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def get_model(self, model_id: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def start_load(self, model_id: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def unload_model(self, model_id: str) -> dict[str, Any]: ...

    def load_model(
        self, model_id: str, progress: ProgressCallback | None = None, poll_s: float = 0.25
    ) -> dict[str, Any]:
        """Load a model and wait for it, reporting progress; ModelError if the load fails."""
        info = self.start_load(model_id)
        model_id = info.get("id", model_id)
        while True:
            if progress is not None:
                progress(float(info.get("progress") or 0.0), info)
            state = info.get("state")
            if state == "loaded":
                return info
            if state == "error":
                raise ModelError(f"loading {model_id} failed: {info.get('error') or 'unknown error'}")
            time.sleep(poll_s)
            info = self.get_model(model_id)

    # -- sessions --------------------------------------------------------------------------------
    @abc.abstractmethod
    def create_session(
        self,
        title: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]: ...

    @abc.abstractmethod
    def get_session(self, session_id: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def list_sessions(
        self, q: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def update_session(self, session_id: str, **fields: Any) -> dict[str, Any]: ...

    @abc.abstractmethod
    def delete_session(self, session_id: str) -> None: ...

    @abc.abstractmethod
    def list_messages(
        self, session_id: str, before: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def switch_branch(self, session_id: str, message_id: int) -> int:
        """Show the branch of user message ``message_id`` (one edit of its turn); the new head id."""

    @abc.abstractmethod
    def export_session(self, session_id: str, fmt: str = "json") -> str: ...

    # -- turns -----------------------------------------------------------------------------------
    @abc.abstractmethod
    def chat(
        self,
        session_id: str,
        content: str,
        params: dict[str, Any] | None = None,
        rag: dict[str, Any] | None = None,
        tools: dict[str, Any] | None = None,
        context: list[dict[str, Any]] | None = None,
    ) -> EventStream: ...

    def reply_tool_call(
        self, call_id: str, decision: str, result: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """Answer a tool call of an agent turn (``tools=``): approve / always / deny, with the
        ``approval_token`` of its ``tool_call`` event."""
        raise Unavailable(f"this {self.mode} client cannot answer tool calls")

    def continue_answer(
        self, session_id: str, message_id: int, params: dict[str, Any] | None = None
    ) -> EventStream:
        """Continue the interrupted assistant message ``message_id`` of ``session_id``.

        Same events as ``chat``; the ``start`` event's ``assistant_message_id`` is ``message_id``
        and ``done.text`` is the whole message. Conflict (``not_interrupted``) for any other message.
        """
        raise Unavailable(f"this {self.mode} client cannot continue answers yet")

    # -- retrieval -------------------------------------------------------------------------------
    @abc.abstractmethod
    def list_collections(self) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    def create_collection(self, name: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def start_ingest(self, name: str, paths: list[str]) -> dict[str, Any]: ...

    @abc.abstractmethod
    def get_job(self, job_id: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    def search(self, name: str, query: str, k: int = 5, mode: str = "hybrid") -> list[dict[str, Any]]: ...

    def ingest(
        self,
        name: str,
        paths: list[str],
        progress: ProgressCallback | None = None,
        poll_s: float = 0.25,
    ) -> dict[str, Any]:
        """Ingest files into a collection (created when missing) and wait for the job."""
        if name not in {c.get("name") for c in self.list_collections()}:
            self.create_collection(name)
        job = self.start_ingest(name, paths)
        while True:
            total = int(job.get("files_total") or 0)
            done = int(job.get("files_done") or 0)
            if progress is not None:
                progress(done / total if total else 0.0, job)
            if job.get("state") not in ("queued", "running"):  # also cancelled / interrupted
                if job.get("state") != "done":
                    raise ChatExtError(
                        f"ingest into {name!r} ended {job.get('state')}: {job.get('error')}",
                        code="ingest_error",
                    )
                return job
            time.sleep(poll_s)
            job = self.get_job(job["id"])

    # -- store extras ----------------------------------------------------------------------------
    @abc.abstractmethod
    def sql(self, query: str) -> tuple[list[str], list[list[Any]]]:
        """Read-only SQL over the session store; InvalidInput for anything that writes."""

    @abc.abstractmethod
    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    def cache_put(self, key: str, value: dict[str, Any]) -> None: ...

    # -- helpers shared by both ------------------------------------------------------------------
    def find_session(self, name_or_id: str, create: bool = True) -> dict[str, Any]:
        """A session by id, else by exact title; created with that title when missing."""
        from ..errors import InvalidInput, NotFound

        try:
            return self.get_session(name_or_id)
        except (NotFound, InvalidInput):
            pass
        for session in self.list_sessions(q=name_or_id, limit=200):
            if session.get("title") == name_or_id:
                return session
        if not create:
            raise NotFound(f"no session with id or title {name_or_id!r}")
        return self.create_session(title=name_or_id)

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
