"""The base handler: Jupyter auth + authorizer, bounded streamed bodies, typed errors as JSON.

Every route of the extension derives from :class:`ChatExtHandler`, and every handler method is
decorated with :func:`requires` (authentication, then Jupyter's authorizer for one action on the
``chat_ext`` resource: ``read``, ``write`` or ``execute``, so JupyterHub RBAC or a read-only role
can deny chats, SQL, ingest or model loading). The base refuses requests without credentials
before anything else runs, refuses oversized bodies before reading them (``bodies.py``), checks
every JSON body once (depth, lone surrogates), and builds every error answer in one place
(:meth:`ChatExtHandler.send_error_json`): ``{"error": {"code", "message"}}`` with the status the
core decided (``jupyter_chat_ext.errors``), ``Retry-After`` on 429/503, never a stack trace.

Blocking core calls go through :meth:`ChatExtHandler.blocking` (short ones) or
:meth:`ChatExtHandler.long_call` (SQL, export, import: a pool of their own, see ``pools.py``).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from http.client import responses
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from jupyter_chat_ext.errors import (
    ChatExtError,
    NotFound,
    code_for_status,
    retry_after_header,
)

from .bodies import DRAIN_LIMIT_BYTES, BodySink, declared_length, parse_json, too_large

if TYPE_CHECKING:
    from jupyter_chat_ext.core import Core

    from .app import ChatExtApp

F = TypeVar("F", bound=Callable[..., Any])

READ, WRITE, EXECUTE = "read", "write", "execute"
#: methods whose requests may carry a body
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def requires(action: str) -> Callable[[F], F]:
    """Authenticate, then ask Jupyter's authorizer for ``action`` on ``chat_ext`` (403 if denied).

    The action is recorded on the method (``chat_ext_action``) so a test can check that every
    method of every route declares one.
    """
    if action not in (READ, WRITE, EXECUTE):
        raise ValueError(f"unknown action {action!r}")

    def wrap(method: F) -> F:
        @functools.wraps(method)
        async def refused_first(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self._refusal is not None:  # an oversized body, read and dropped (bodies.py)
                raise self._refusal
            result = method(self, *args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        guarded = web.authenticated(authorized(action)(refused_first))
        guarded.chat_ext_action = action  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return wrap


def error_payload(exc: BaseException | None, status: int) -> tuple[int, str, str, int | None]:
    """(status, code, message, retry-after seconds) for an exception; internal faults say nothing."""
    if isinstance(exc, ChatExtError):
        return int(exc.status), exc.code, exc.message, exc.retry_after_s()
    if isinstance(exc, web.HTTPError):
        status = exc.status_code
        message = exc.log_message or exc.reason or responses.get(status, "error")
        if exc.args and exc.log_message and "%" in exc.log_message:
            try:
                message = exc.log_message % exc.args
            except (TypeError, ValueError):
                pass
        return status, code_for_status(status), message, retry_after_header(status, None)
    if status >= 500:
        return status, "internal_error", "internal server error (see the server log)", None
    return status, code_for_status(status), responses.get(status, "error"), None


@web.stream_request_body
class ChatExtHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every /chat-ext/ route."""

    auth_resource = "chat_ext"
    #: set when the client went away (tornado's on_connection_close)
    _gone = False
    #: the app setting that bounds this route's body
    body_limit_attr = "max_body_bytes"
    #: spool the body to a temporary file instead of memory (uploads)
    body_to_file = False
    _sink: BodySink | None = None
    #: an oversized body's 413, answered once the body has been read and dropped (see prepare)
    _refusal: ChatExtError | None = None
    _drained = 0

    @property
    def chat_app(self) -> ChatExtApp:
        return self.extensionapp  # type: ignore[return-value]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "OPTIONS" and not self.current_user:
            raise web.HTTPError(403, "authentication required")
        if self.request.method in BODY_METHODS:
            limit = self.body_limit
            length = declared_length(self.request.headers.get("Content-Length"))
            if length is not None and length > limit:
                # a 413 sent while the client still sends its body reaches curl (Expect:
                # 100-continue: it waits before sending) but not http.client or a browser's
                # fetch: they see a reset. So their body is read and dropped (never kept) and the
                # 413 answered after it, as nginx's lingering close does; past DRAIN_LIMIT_BYTES
                # it is answered at once
                expects = self.request.headers.get("Expect", "").lower() == "100-continue"
                if expects or length > DRAIN_LIMIT_BYTES:
                    self.set_header("Connection", "close")
                    raise too_large(length, limit)
                self._refusal = too_large(length, limit)
                return
            self._sink = BodySink(limit, to_file=self.body_to_file)

    async def data_received(self, chunk: bytes) -> None:
        """Take a piece of the body; past the limit the rest is read and dropped (413 after it)."""
        if self._refusal is not None:
            self._drained += len(chunk)
            if self._drained > DRAIN_LIMIT_BYTES and not self._finished:
                self.set_header("Connection", "close")
                self.send_error_json(self._refusal.status, self._refusal.code, self._refusal.message)
            return
        sink = self._sink
        if sink is None or self._finished:
            return
        try:
            sink.accept(chunk)
        except ChatExtError as exc:
            self._refusal, self._drained = exc, sink.size  # dropped from here on, 413 at the end
            return
        if sink.spooled:
            await self.chat_app.run_blocking(sink.write, chunk)

    async def authorize(self, action: str) -> None:
        """Ask the authorizer for one more action inside a method (an edit that also resends)."""
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, action, self.auth_resource)
        )
        if not allowed:
            raise web.HTTPError(403, f"User is not authorized to {action} on resource: {self.auth_resource}.")

    @property
    def body_limit(self) -> int:
        return int(getattr(self.chat_app, self.body_limit_attr))

    async def core(self) -> Core:
        return await self.chat_app.core()

    def blocking(self, fn: Any, *args: Any) -> Awaitable[Any]:
        """Run a short blocking core call on the extension's worker threads."""
        return self.chat_app.run_blocking(fn, *args)

    def long_call(self, fn: Any, *args: Any) -> Awaitable[Any]:
        """Run a call that may take seconds (SQL, export, import) on the pool kept for those."""
        return self.chat_app.run_blocking(fn, *args, slow=True)

    # -- input -------------------------------------------------------------------------------
    def body_bytes(self) -> bytes:
        """The whole body (in memory; routes with ``body_to_file`` use :meth:`body_path`)."""
        return self._sink.data() if self._sink is not None else (self.request.body or b"")

    def body_path(self) -> Any:
        """The temporary file holding an upload's body (deleted after the answer unless moved)."""
        if self._sink is None or not self._sink.spooled:
            raise RuntimeError(f"{type(self).__name__} does not spool its body to a file")
        return self._sink.path()

    def json_body(self, *, required: bool = True) -> dict[str, Any]:
        """The body as a checked JSON object (one check for every route: see ``bodies.parse_json``).

        Parsed on the event loop: bodies here are bounded by ``max_body_bytes`` (1 MB: a few ms).
        Routes with a larger limit use :meth:`json_body_off_loop`.
        """
        return parse_json(self.body_bytes(), required=required)

    async def json_body_off_loop(self, *, required: bool = True) -> dict[str, Any]:
        """:meth:`json_body` on a worker thread, for routes whose bodies may be megabytes."""
        raw = self.body_bytes()
        return await self.long_call(lambda: parse_json(raw, required=required))

    @staticmethod
    def message_id(raw: str) -> int:
        """Message ids are integers; anything else names no message."""
        try:
            return int(raw)
        except ValueError:
            raise NotFound(f"no message {raw!r}") from None

    # -- output ------------------------------------------------------------------------------
    def send_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        retry_after = retry_after_header(status, None)
        if retry_after is not None:  # e.g. health while the core cannot start
            self.set_header("Retry-After", str(retry_after))
        self.finish(dumps(data))

    def send_empty(self) -> None:
        self.set_status(204)
        self.finish()

    def error_body(self, status: int, code: str, message: str) -> dict[str, Any]:
        """The JSON of an error answer (the OpenAI routes give it OpenAI's shape)."""
        return {"error": {"code": code, "message": message}}

    def send_error_json(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        retry_after: int | None = None,
    ) -> None:
        """The one place an error answer is built: status, ``Retry-After``, JSON body."""
        if self._finished:
            return
        body = self.error_body(status, code, message)
        if details is not None and status < 500 and isinstance(body.get("error"), dict):
            body["error"]["details"] = details
        self.clear()  # drop headers a handler may have set for a success answer
        try:
            self.set_status(status)
        except ValueError:  # a status tornado does not know
            self.set_status(500)
        if retry_after is None:
            retry_after = retry_after_header(status, None)
        if retry_after is not None:
            self.set_header("Retry-After", str(retry_after))
        self.set_header("Content-Type", "application/json")
        self.log.debug(
            "jupyter_chat_ext: %s %s -> %s %s", self.request.method, self.request.path, status, code
        )
        self.finish(dumps(body))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, code, message, retry_after = error_payload(exc, status_code)
        details = exc.details if isinstance(exc, ChatExtError) else None
        self.send_error_json(status, code, message, details=details, retry_after=retry_after)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ChatExtError) and int(value.status) < 500:
            self.log.info("%s %s: %s %s", self.request.method, self.request.path, value.status, value.message)
            return
        super().log_exception(typ, value, tb)

    def on_connection_close(self) -> None:
        self._gone = True
        super().on_connection_close()

    def on_finish(self) -> None:
        if self._sink is not None:
            self._sink.discard()  # an upload's temp file, unless the handler moved it away
        try:
            self.chat_app.metrics.observe_request(
                type(self).__name__, self.request.method or "", self.get_status()
            )
        except Exception:  # metrics never break a response
            self.log.debug("jupyter_chat_ext: metrics failed", exc_info=True)
        super().on_finish()


def _json_default(obj: Any) -> Any:
    """What json.dumps cannot write by itself: reports with to_dict(), dates, numpy values, Paths."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def dumps(obj: Any) -> str:
    """JSON text of an answer or event (one line: SSE frames rely on it)."""
    return json.dumps(obj, default=_json_default)
