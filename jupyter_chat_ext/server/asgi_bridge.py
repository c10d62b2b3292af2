"""Hand one tornado request to an ASGI callable and stream its answer back: the few lines that let
the ``mcp`` SDK's streamable-HTTP transport answer inside Jupyter's own server (same port, token,
authorizer) instead of a second web server. Only what that transport uses: one buffered request
body (already size-checked by the base handler), a status, headers and body chunks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from tornado import web

Asgi = Callable[
    [dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]
#: hop-by-hop and length headers are tornado's to write
_SKIP = {"content-length", "transfer-encoding", "connection"}


def asgi_scope(handler: web.RequestHandler, path: str) -> dict[str, Any]:
    request = handler.request
    host, _, port = (request.host or "localhost").partition(":")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.version.removeprefix("HTTP/") if request.version else "1.1",
        "method": request.method,
        "scheme": request.protocol,
        "path": path,
        "raw_path": path.encode("latin-1"),
        "root_path": "",
        "query_string": (request.query or "").encode("latin-1"),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.get_all()],
        "client": (request.remote_ip or "", 0),
        "server": (host, int(port) if port.isdigit() else (443 if request.protocol == "https" else 80)),
    }


async def serve_asgi(handler: Any, app: Asgi, body: bytes, *, path: str) -> None:
    """Run ``app`` for the handler's request; ``handler.gone`` (a callable) says the client left.

    After the body, ``receive`` answers ``http.disconnect`` once the answer is complete (apps
    listen for it while they work, and some wait for it before they return).
    """
    done = asyncio.Event()
    sent_body = False
    started = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()  # the request has no more body: the next event is the end
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal started
        if handler.gone():
            return
        if message["type"] == "http.response.start":
            started = True
            handler.clear_header("Content-Type")
            handler.set_status(message["status"])
            for raw_name, raw_value in message.get("headers", []):
                name = raw_name.decode("latin-1")
                if name.lower() not in _SKIP:
                    handler.add_header(name, raw_value.decode("latin-1"))
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            if chunk:
                handler.write(chunk)
            if message.get("more_body", False):
                await handler.flush()  # SSE frames must reach the client as they are sent
            else:
                done.set()  # the answer is complete: an app listening for the end may stop now

    try:
        await app(asgi_scope(handler, path), receive, send)
    finally:
        done.set()
    if not started:
        raise web.HTTPError(500, "the MCP transport sent no answer")
    if not handler.gone():
        handler.finish()
