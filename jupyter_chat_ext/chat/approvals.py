"""The user's answers to an agent's tool calls: one pending future per call id.

An agent turn opens a pending call when it needs the client (a write/execute tool to approve, or a
notebook tool the client runs) and awaits it; the reply arrives through another door (the HTTP
route ``POST /chat-ext/tool-calls/{id}``, or the kernel's magic in the same process) on any thread.
The checks of a reply happen here, under one lock, so two replies racing for one call cannot both
win: the first decides, the second gets 409. A call that finished (answered, timed out, or its turn
was stopped) is forgotten, so a late reply gets 404.

A reply must carry the call's ``token``: a secret made when the call opens and sent only in the
``tool_call`` event of the stream that asked (never stored, never listed). The call id alone is
visible in ``GET .../messages`` while the call waits, so on a shared server (JupyterHub roles)
anyone with ``execute`` could approve another user's call by its id; with the token only the
asking stream's reader can (403 ``approval_token_mismatch`` otherwise).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from ..errors import Conflict, Forbidden, InvalidInput, NotFound

DECISIONS = ("approve", "always", "deny")
#: what a client's result text may hold at most (a tool's own results are truncated by the registry)
MAX_RESULT_CHARS = 1_000_000


@dataclass(frozen=True)
class Reply:
    decision: str  # approve | always | deny
    content: str | None = None  # a client tool's result (None for server tools and denials)
    is_error: bool = False


@dataclass
class Pending:
    call_id: str
    session_id: str
    name: str
    executor: str  # "server" (the server runs it once approved) | "client" (the client runs it)
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Reply]
    decided: bool = False
    #: the per-call secret the asking stream's ``tool_call`` event carries; a reply must send it
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)


@dataclass
class ApprovalBroker:
    _pending: dict[str, Pending] = field(default_factory=dict)
    #: tools the user approved "always" for, per session (this process only: the sidebar keeps a
    #: lasting allow-list in its settings, the server has Settings.tool_allowlist)
    _always: dict[str, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, call_id: str, *, session_id: str, name: str, executor: str) -> Pending:
        """Register a call that waits for the client; call on the loop that will await it."""
        loop = asyncio.get_running_loop()
        pending = Pending(call_id, session_id, name, executor, loop, loop.create_future())
        with self._lock:
            if call_id in self._pending:  # call ids are random per call; a clash is a bug upstream
                raise Conflict(f"tool call {call_id} is already waiting", code="tool_call_exists")
            self._pending[call_id] = pending
        return pending

    async def wait(self, pending: Pending, timeout_s: float) -> Reply | None:
        """The client's reply, or None when none came within ``timeout_s``. The caller closes the
        call once it is done with it (a reply while a server tool runs is still a 409)."""
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), timeout_s)
        except asyncio.TimeoutError:
            with self._lock:  # a reply racing the timeout finds the call decided: 409, not a win
                pending.decided = True
            return None

    def close(self, call_id: str) -> None:
        with self._lock:
            self._pending.pop(call_id, None)

    def is_waiting(self, call_id: str) -> bool:
        with self._lock:
            return call_id in self._pending

    def reply(self, call_id: Any, decision: Any, result: Any = None, token: Any = None) -> dict[str, Any]:
        """Decide a waiting call (any thread). NotFound 404: unknown or finished; Forbidden 403:
        not the call's token; Conflict 409: decided already; InvalidInput 400: a bad decision or
        result for this kind of call."""
        if decision not in DECISIONS:
            raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}, got {decision!r}")
        if token is not None and not isinstance(token, str):
            raise InvalidInput("token must be the approval_token string of the call's tool_call event")
        with self._lock:
            pending = self._pending.get(call_id) if isinstance(call_id, str) else None
            if pending is None:
                raise NotFound(f"no tool call {call_id!r} is waiting for a reply", code="unknown_tool_call")
            if not hmac.compare_digest((token or "").encode(), pending.token.encode()):
                raise Forbidden(
                    f"tool call {call_id} is answered with the approval_token its stream received",
                    code="approval_token_mismatch",
                )
            if pending.decided:
                raise Conflict(f"tool call {call_id} was decided already", code="tool_call_decided")
            reply = _check_reply(pending, decision, result)
            pending.decided = True
            if decision == "always":
                self._always.setdefault(pending.session_id, set()).add(pending.name)
        # the future belongs to the turn's loop: resolve it there whatever thread replied
        pending.loop.call_soon_threadsafe(_resolve, pending.future, reply)
        return {"call_id": call_id, "decision": decision, "accepted": True}

    def always_allowed(self, session_id: str, name: str) -> bool:
        with self._lock:
            return name in self._always.get(session_id, ())


def _resolve(future: asyncio.Future[Reply], reply: Reply) -> None:
    if not future.done():  # the turn may have been stopped meanwhile
        future.set_result(reply)


def _check_reply(pending: Pending, decision: str, result: Any) -> Reply:
    if decision == "deny":
        if result is not None:
            raise InvalidInput("a denial carries no result")
        return Reply("deny")
    if pending.executor == "server":
        if result is not None:
            raise InvalidInput(f"{pending.name} runs in the server: send a decision only, the server runs it")
        return Reply(decision)
    if not isinstance(result, dict):
        raise InvalidInput(
            f"{pending.name} runs in the client: approve it with its result {{content, is_error}}"
        )
    content, is_error = result.get("content"), result.get("is_error", False)
    if not isinstance(content, str):
        raise InvalidInput("result.content must be a string")
    if len(content) > MAX_RESULT_CHARS:
        raise InvalidInput(f"result.content is {len(content)} characters; the limit is {MAX_RESULT_CHARS}")
    if not isinstance(is_error, bool):
        raise InvalidInput("result.is_error must be true or false")
    unknown = sorted(set(result) - {"content", "is_error"})
    if unknown:
        raise InvalidInput(f"result has unknown fields {unknown}")
    return Reply(decision, content, is_error)
