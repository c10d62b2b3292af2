"""ChatWidget: a chat in a cell: session picker, streaming answer (rendered markdown), stop button."""

from __future__ import annotations

import threading
import time
from typing import Any

import traitlets

from ..kernel.client import ChatClient
from ..kernel.loading import ensure_loaded, session_model
from ..kernel.retry import retry_notices
from .base import ClientWidget
from .esm import build_esm
from .markdown import StreamingMarkdown, markdown_tree


def _message_view(m: dict[str, Any]) -> dict[str, Any]:
    metrics = m.get("metrics") or {}
    content = m.get("content") or ""
    return {
        "id": m.get("id"),
        "role": m.get("role"),
        "content": content,
        # answers are shown as rendered markdown; what the user typed is shown as typed
        "blocks": markdown_tree(content) if m.get("role") == "assistant" else None,
        "status": m.get("status") or "complete",
        "tokens_per_s": metrics.get("tokens_per_s"),
    }


class ChatWidget(ClientWidget):
    """Chat with the local model inside a notebook cell.

    ``ChatWidget()`` uses the kernel's shared client (the Jupyter server when one hosts the
    extension, else the in-process core). ``send(text)`` does what the Send button does.
    """

    _esm = build_esm("chat.js")

    sessions = traitlets.List(traitlets.Dict()).tag(sync=True)
    session_id = traitlets.Unicode("").tag(sync=True)
    messages = traitlets.List(traitlets.Dict()).tag(sync=True)
    #: the answer being generated (shown below ``messages`` while ``busy``)
    partial = traitlets.Unicode("").tag(sync=True)
    #: ``partial`` as a markdown tree (what the browser draws)
    partial_blocks = traitlets.List().tag(sync=True)
    #: the model being loaded before the answer ("" when none) and its progress 0..1
    loading = traitlets.Unicode("").tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    #: a line about the last answer: tokens, speed, status
    info = traitlets.Unicode("").tag(sync=True)
    max_tokens = traitlets.Int(256).tag(sync=True)
    temperature = traitlets.Float(0.0).tag(sync=True)

    def __init__(
        self,
        client: ChatClient | None = None,
        session: str | None = None,
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        update_interval: float = 0.08,
        **kwargs: Any,
    ) -> None:
        super().__init__(client=client, max_tokens=max_tokens, temperature=temperature, **kwargs)
        self._stop = threading.Event()
        self._streaming_md = StreamingMarkdown()
        self._interval = update_interval
        self._guard(self.refresh_sessions)
        if session:
            self._guard(lambda: setattr(self, "session_id", self.client.find_session(session)["id"]))

    # -- sessions --------------------------------------------------------------------------------
    def refresh_sessions(self) -> None:
        self.sessions = [
            {"id": s["id"], "title": s.get("title") or "(untitled)"}
            for s in self.client.list_sessions(limit=100)
        ]

    @traitlets.observe("partial")
    def _partial_changed(self, change: dict[str, Any]) -> None:
        self.partial_blocks = self._streaming_md.tree(change["new"]) if change["new"] else []

    @traitlets.observe("session_id")
    def _session_changed(self, change: dict[str, Any]) -> None:
        self.partial = ""
        self.info = ""
        if change["new"]:
            self._guard(self._load_messages)
        else:
            self.messages = []

    def _load_messages(self) -> None:
        self.messages = [_message_view(m) for m in self.client.list_messages(self.session_id, limit=200)]

    def new_session(self, title: str | None = None) -> str:
        session = self.client.create_session(title=title)
        self.session_id = session["id"]
        self.refresh_sessions()
        return session["id"]

    # -- turns -----------------------------------------------------------------------------------
    def send(self, content: str, wait: bool = False, timeout: float | None = None) -> None:
        """Send a message; the answer streams into the widget on a worker thread."""
        content = content.strip()
        if not content:
            self.error = "type a message first"
            return
        self._stop.clear()
        self._start(lambda: self._turn(content))
        if wait:
            self.wait(timeout)

    def stop(self) -> None:
        """Stop the answer being generated; its partial text is kept (status interrupted)."""
        self._stop.set()

    def _load_model(self, client: ChatClient) -> None:
        """A first answer in a fresh kernel waits for the model: show its load progress."""
        model_id = session_model(client, client.get_session(self.session_id))

        def progress(fraction: float, info: dict[str, Any]) -> None:
            self.loading, self.progress = str(model_id), fraction

        try:
            ensure_loaded(client, model_id, progress)
        finally:
            self.loading = ""

    def _turn(self, content: str) -> None:
        client = self.client
        if not self.session_id:
            self.session_id = client.create_session()["id"]
        self._load_model(client)
        self.messages = [
            *self.messages,
            {"id": None, "role": "user", "content": content, "status": "complete"},
        ]
        self.partial = ""
        params = {"max_tokens": int(self.max_tokens), "temperature": float(self.temperature)}
        text: list[str] = []
        done: dict[str, Any] = {}
        last = 0.0
        with retry_notices(lambda line: setattr(self, "info", line.removeprefix("chat: "))):
            stream = client.chat(self.session_id, content, params=params)
        try:
            for event in stream:
                kind = event.get("type")
                if kind == "token":
                    text.append(event.get("text", ""))
                    now = time.monotonic()
                    if now - last >= self._interval:
                        last = now
                        self.partial = "".join(text)
                elif kind in ("done", "error"):
                    done = event
                if self._stop.is_set():
                    break
        finally:
            stream.close()
        self.partial = ""
        if done.get("type") == "error":
            self.error = done.get("message") or "generation failed"
        metrics = done.get("metrics") or {}
        status = "interrupted" if self._stop.is_set() and not done else done.get("status", "complete")
        self.info = (
            f"{metrics.get('completion_tokens', len(text))} tokens"
            + (f" · {metrics['tokens_per_s']:.1f} tok/s" if metrics.get("tokens_per_s") else "")
            + (f" · {status}" if status != "complete" else "")
        )
        self._load_messages()
        self.refresh_sessions()

    # -- messages from the browser -----------------------------------------------------------------
    def on_send(self, content: dict[str, Any]) -> None:
        self.send(str(content.get("content", "")))

    def on_stop(self, content: dict[str, Any]) -> None:
        self.stop()

    def on_new_session(self, content: dict[str, Any]) -> None:
        self.new_session()

    def on_refresh(self, content: dict[str, Any]) -> None:
        self.refresh_sessions()
        if self.session_id:
            self._load_messages()
