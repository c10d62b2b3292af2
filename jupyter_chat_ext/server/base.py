"""The base handler: Jupyter auth, JSON bodies with a size limit, typed errors as JSON.

Every route of the extension derives from :class:`ChatExtHandler`. It refuses requests without
Jupyter credentials (before anything else runs), parses and bounds JSON bodies, and turns the core's
typed errors (``jupyter_chat_ext.errors``) into ``{"error": {"code", "message"}}`` with their HTTP
status. It never writes a stack trace into a response.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from http.client import responses
from typing import TYPE_CHECKING, Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from jupyter_chat_ext.errors import ChatExtError, InvalidInput, NotFound, PayloadTooLarge

if TYPE_CHECKING:
    from .app import ChatExtApp
    from .core import CoreServices

#: HTTP status -> error code used when tornado or jupyter_server raise a plain HTTPError
HTTP_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "busy",
    503: "unavailable",
}


def error_payload(exc: BaseException | None, status: int) -> tuple[int, str, str]:
    """(status, code, message) for an exception; internal faults get a generic message."""
    if isinstance(exc, ChatExtError):
        return int(exc.status), exc.code, exc.message
    if isinstance(exc, web.HTTPError):
        status = exc.status_code
        message = exc.log_message or exc.reason or responses.get(status, "error")
        if exc.args and exc.log_message and "%" in exc.log_message:
            try:
                message = exc.log_message % exc.args
            except (TypeError, ValueError):
                pass
        return status, HTTP_CODES.get(status, "error" if status >= 500 else "http_error"), message
    if status >= 500:
        return status, "internal_error", "internal server error (see the server log)"
    return status, HTTP_CODES.get(status, "http_error"), responses.get(status, "error")


class ChatExtHandler(ExtensionHandlerMixin, APIHandler):
    """Base of every /chat-ext/ route."""

    auth_resource = "chat_ext"
    #: set when the client went away (tornado's on_connection_close)
    _gone = False
    #: largest body accepted (None: the app's max_body_bytes)
    body_limit_attr = "max_body_bytes"

    @property
    def chat_app(self) -> ChatExtApp:
        return self.extensionapp  # type: ignore[return-value]

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.request.method != "OPTIONS" and not self.current_user:
            raise web.HTTPError(403, "authentication required")
        limit = self.body_limit
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"request body is {length} bytes; the limit is {limit}")

    @property
    def body_limit(self) -> int:
        return int(getattr(self.chat_app, self.body_limit_attr))

    async def core(self) -> CoreServices:
        return await self.chat_app.core()

    def blocking(self, fn: Any, *args: Any) -> Awaitable[Any]:
        """Run a blocking core call in the extension's worker threads."""
        return self.chat_app.run_blocking(fn, *args)

    # -- input -------------------------------------------------------------------------------
    def json_body(self, *, required: bool = True) -> dict[str, Any]:
        body = self.request.body or b""
        if len(body) > self.body_limit:
            raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {self.body_limit}")
        if not body.strip():
            if required:
                raise InvalidInput("a JSON object body is required")
            return {}
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"malformed JSON body: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput("the JSON body must be an object")
        return data

    def query_str(self, name: str, default: str | None = None, *, max_len: int = 10_000) -> str | None:
        value = self.get_query_argument(name, None)
        if value is None:
            return default
        if len(value) > max_len:
            raise PayloadTooLarge(f"query parameter {name!r} is longer than {max_len} characters")
        return value

    def query_int(self, name: str, default: int | None, *, lo: int = 0, hi: int = 10_000) -> int | None:
        raw = self.get_query_argument(name, None)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise InvalidInput(f"query parameter {name!r} must be an integer, got {raw!r}") from None
        if not lo <= value <= hi:
            raise InvalidInput(f"query parameter {name!r} must be between {lo} and {hi}")
        return value

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
        self.finish(json.dumps(jsonable(data)))

    def send_empty(self) -> None:
        self.set_status(204)
        self.finish()

    def error_body(self, status: int, code: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message}}

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, code, message = error_payload(exc, status_code)
        body = self.error_body(status, code, message)
        if isinstance(exc, ChatExtError) and exc.details is not None and status < 500:
            body["error"]["details"] = jsonable(exc.details)
        try:
            self.set_status(status)
        except ValueError:  # a status tornado does not know
            self.set_status(500)
        self.set_header("Content-Type", "application/json")
        self.chat_app.log.debug(
            "jupyter_chat_ext: %s %s -> %s %s", self.request.method, self.request.path, status, code
        )
        self.finish(json.dumps(body))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ChatExtError) and int(value.status) < 500:
            self.log.info("%s %s: %s %s", self.request.method, self.request.path, value.status, value.message)
            return
        super().log_exception(typ, value, tb)

    def on_connection_close(self) -> None:
        self._gone = True
        super().on_connection_close()

    def on_finish(self) -> None:
        try:
            self.chat_app.metrics.observe_request(
                type(self).__name__, self.request.method or "", self.get_status()
            )
        except Exception:  # metrics never break a response
            self.log.debug("jupyter_chat_ext: metrics failed", exc_info=True)
        super().on_finish()


def jsonable(obj: Any) -> Any:
    """Core objects as JSON-ready data: dicts as they are, objects via to_dict or dataclasses."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)
