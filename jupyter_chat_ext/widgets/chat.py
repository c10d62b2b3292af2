"""ChatWidget: a chat in a cell: session picker, streaming answer (rendered markdown), stop button,
and agent turns: tool calls folded in the thread, Approve / Deny for those that need the user."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import traitlets

from ..errors import InvalidInput
from ..kernel.client import ChatClient
from ..kernel.loading import ensure_loaded, session_model
from ..kernel.retry import retry_notices
from ..settings import DEFAULT_MAX_TOKENS
from .base import ClientWidget
from .esm import build_esm
from .markdown import StreamingMarkdown
from .thread import thread_view

DECISIONS = ("approve", "always", "deny")


class ChatWidget(ClientWidget):
    """Chat with the local model inside a notebook cell.

    ``ChatWidget()`` uses the kernel's shared client (the Jupyter server when one hosts the
    extension, else the in-process core). ``send(text)`` does what the Send button does.

    ``tools=True`` makes each turn an agent turn over every enabled server-side tool (built-in and
    MCP; a list of names picks some; the notebook tools need the sidebar, which can reach the
    notebook). The Tools box in the widget flips the ``tools`` traitlet. A call that writes or
    executes and is not in the server's ``tool_allowlist`` waits for Approve / Always / Deny in the
    widget (or ``decide(call_id, decision)``); Stop denies what waits and ends the turn. The
    buttons reach the kernel as comm messages, so they work while the turn streams on its worker
    thread, not while a cell blocks the kernel (``send(..., wait=True)``): there an unanswered
    call times out as denied after the server's ``approval_timeout_s``.
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
    #: the answer length asked for; starts at the core's own default (Settings.default_max_tokens)
    max_tokens = traitlets.Int(DEFAULT_MAX_TOKENS).tag(sync=True)
    temperature = traitlets.Float(0.0).tag(sync=True)
    #: agent turns on/off (the browser's Tools box) and which tools (None: every enabled one)
    tools = traitlets.Bool(False).tag(sync=True)
    tool_names = traitlets.List(traitlets.Unicode(), allow_none=True, default_value=None).tag(sync=True)
    #: calls of the running turn without a result yet: ``{call_id: {name, approval, decision}}``;
    #: ``approval`` "required" gets the buttons until ``decision`` is set
    pending_calls = traitlets.Dict().tag(sync=True)

    def __init__(
        self,
        client: ChatClient | None = None,
        session: str | None = None,
        *,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float = 0.0,
        update_interval: float = 0.08,
        tools: bool | Sequence[str] = False,
        tool_choice: str | dict[str, Any] = "auto",
        max_steps: int | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(tools, str) or not isinstance(tools, bool | Sequence):
            raise InvalidInput("tools must be True, False or a list of tool names")
        names = None if isinstance(tools, bool) else [str(n) for n in tools]
        super().__init__(
            client=client,
            max_tokens=max_tokens,
            temperature=temperature,
            tools=bool(tools),
            tool_names=names,
            **kwargs,
        )
        #: the first step's tool_choice and the step limit (None: the server's agent_max_steps);
        #: checked by the server with the rest of the request
        self.tool_choice = tool_choice
        self.max_steps = max_steps
        self._stop = threading.Event()
        self._calls_lock = threading.Lock()
        #: each waiting call's approval_token (its tool_call event's): sent back with the decision
        self._call_tokens: dict[str, str | None] = {}
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

    def _load_messages(self, live: bool = False) -> None:
        self.messages = thread_view(self.client.list_messages(self.session_id, limit=200), live=live)

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
        """Stop the answer being generated; its partial text is kept (status interrupted). A call
        waiting for the user is denied: the turn is stuck on it, and a "no" is what stop means."""
        self._stop.set()
        for call_id, call in dict(self.pending_calls).items():
            if call.get("approval") == "required" and not call.get("decision"):
                try:
                    self.decide(call_id, "deny")
                except InvalidInput:  # its result came in meanwhile: nothing waits any more
                    pass

    def tools_request(self) -> dict[str, Any] | None:
        """The chat body's ``tools`` field for the next turn (None: a plain turn)."""
        if not self.tools:
            return None
        req: dict[str, Any] = {"names": self.tool_names, "client": [], "tool_choice": self.tool_choice}
        if self.max_steps is not None:
            req["max_steps"] = self.max_steps
        return req

    def decide(self, call_id: str, decision: str) -> None:
        """Answer a call that waits for the user: ``approve``, ``always`` (this tool, this session)
        or ``deny``. The reply goes out on a short thread of its own: never on the kernel's loop
        (an HTTP round trip), and never on the turn's worker, which is blocked reading the stream
        until the reply lets it go on."""
        if decision not in DECISIONS:
            raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        with self._calls_lock:  # the turn's worker updates the same dict (a click may race it)
            call = self.pending_calls.get(call_id)
            if call is None or call.get("approval") != "required" or call.get("decision"):
                raise InvalidInput(f"tool call {call_id!r} is not waiting for a decision")
            self.pending_calls = {**self.pending_calls, call_id: {**call, "decision": decision}}
        client = self.client
        token = self._call_tokens.get(call_id)

        def reply() -> None:
            self._guard(lambda: client.reply_tool_call(call_id, decision, token=token))

        threading.Thread(target=reply, name="ChatWidget-tool-reply", daemon=True).start()

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
        tools = self.tools_request()
        extra = {"tools": tools} if tools is not None else {}
        self.pending_calls = {}
        with retry_notices(lambda line: setattr(self, "info", line.removeprefix("chat: "))):
            stream = client.chat(self.session_id, content, params=params, **extra)
        try:
            for event in stream:
                kind = event.get("type")
                if kind == "token":
                    text.append(event.get("text", ""))
                    now = time.monotonic()
                    if now - last >= self._interval:
                        last = now
                        self.partial = "".join(text)
                elif kind in ("tool_call", "tool_result", "step"):
                    text = self._tool_event(event)
                elif kind in ("done", "error"):
                    done = event
                if self._stop.is_set() and not self._reply_in_flight():
                    break  # (a denial stop() just sent is read first: its row is the record)
        finally:
            stream.close()
            self.pending_calls = {}
        self.partial = ""
        if done.get("type") == "error":
            self.error = done.get("message") or "generation failed"
        metrics = done.get("metrics") or {}
        status = "interrupted" if self._stop.is_set() and not done else done.get("status", "complete")
        steps = done.get("steps") or 1
        self.info = (
            f"{metrics.get('completion_tokens', len(text))} tokens"
            + (f" · {metrics['tokens_per_s']:.1f} tok/s" if metrics.get("tokens_per_s") else "")
            + (f" · {steps} steps" if steps > 1 else "")
            + (f" · {done['finish_reason']}" if done.get("finish_reason") == "max_steps" else "")
            + (f" · {status}" if status != "complete" else "")
        )
        self._load_messages()
        self.refresh_sessions()

    def _reply_in_flight(self) -> bool:
        """A decision was sent for a call whose result has not come back yet."""
        with self._calls_lock:
            return any(c.get("decision") for c in self.pending_calls.values())

    def _tool_event(self, event: dict[str, Any]) -> list[str]:
        """A call, its result or the next step: the thread is reloaded from the store (the step
        that called is stored by now, its text included, and so is each result), so a live turn
        looks exactly like the same session reopened. Returns the text the next tokens add to."""
        kind, call_id = event.get("type"), str(event.get("call_id") or "")
        self.partial = ""
        if kind != "step":  # a step only starts a new answer row: nothing new is stored yet
            # the thread first: whoever sees a call waiting finds it drawn already
            self._load_messages(live=True)
        with self._calls_lock:
            if kind == "tool_call":
                call = {"name": event.get("name"), "approval": event.get("approval"), "decision": None}
                self._call_tokens[call_id] = event.get("approval_token")  # kept here, not synced
                self.pending_calls = {**self.pending_calls, call_id: call}
            elif kind == "tool_result":
                self.pending_calls = {k: v for k, v in self.pending_calls.items() if k != call_id}
        return []

    # -- messages from the browser -----------------------------------------------------------------
    def on_send(self, content: dict[str, Any]) -> None:
        self.send(str(content.get("content", "")))

    def on_stop(self, content: dict[str, Any]) -> None:
        self.stop()

    def on_tool_decision(self, content: dict[str, Any]) -> None:
        self.decide(str(content.get("call_id", "")), str(content.get("decision", "")))

    def on_new_session(self, content: dict[str, Any]) -> None:
        self.new_session()

    def on_refresh(self, content: dict[str, Any]) -> None:
        self.refresh_sessions()
        if self.session_id:
            self._load_messages(live=self.busy)
