"""``GET /chat-ext/openapi.json``: the OpenAPI 3.1 document, generated from the routes' ``@op``s.

``wire/openapi.py`` builds the document from ``routes.ROUTES`` and the declarations on each
handler method; this module adds what only the server knows (which methods a tornado handler
implements, the base_url, the package version) and serves it. The document is built once per
process, on a worker thread (pydantic's schema generation over ~170 models takes ~0.5 s, too
long for the event loop), then served from memory.

``python -m jupyter_chat_ext.server.openapi`` prints it without a server (the sidebar's
TypeScript types are generated from that output: ``make wire``).
"""

from __future__ import annotations

import copy
import functools
import json
import sys
from typing import Any

from tornado import web

from jupyter_chat_ext.wire.openapi import METHODS, OpenApiDocument, Route, build_document, openapi_path
from jupyter_chat_ext.wire.ops import op

from .base import READ, ChatExtHandler, requires

__all__ = ["OpenApiHandler", "build_spec", "implemented", "openapi_path", "route_paths", "routes"]


def implemented(handler: type) -> dict[str, Any]:
    """The HTTP methods a handler class answers (tornado's defaults answer 405), by name."""
    return {
        method: getattr(handler, method)
        for method in METHODS
        if getattr(handler, method) is not getattr(web.RequestHandler, method)
    }


def routes() -> list[Route]:
    """Every route the server registers, as the document generator sees it."""
    from .routes import ROUTES

    return [
        Route(
            pattern,
            handler.__name__,
            implemented(handler),
            handler.__doc__,
            # a handler that streams its body to a file takes the raw bytes (an upload)
            raw_body="application/octet-stream" if getattr(handler, "body_to_file", False) else None,
        )
        for pattern, handler in ROUTES
    ]


def route_paths() -> list[str]:
    """The OpenAPI path of every route the server registers, in routing order."""
    return [openapi_path(route.pattern) for route in routes()]


@functools.cache
def _document(version: str) -> dict[str, Any]:
    return build_document(routes(), version=version)


def build_spec(base_url: str = "/", version: str | None = None) -> dict[str, Any]:
    """The served document: this server's prefix and the package version."""
    from jupyter_chat_ext import __version__

    spec = copy.deepcopy(_document(version or __version__))
    spec["servers"] = [{"url": base_url.rstrip("/") + "/chat-ext"}]
    return spec


class OpenApiHandler(ChatExtHandler):
    """``GET openapi.json``: the description of this API (behind the same auth as the API)."""

    @requires(READ)
    @op("This document", answer=OpenApiDocument, tag="server", operation_id="getOpenApi")
    async def get(self) -> None:
        base_url = self.settings.get("base_url", "/")
        spec = await self.blocking(build_spec, base_url)
        self.send_json(spec)


def main() -> None:
    """Print the document (base_url "/") as JSON, keys in a stable order."""
    json.dump(build_spec("/"), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
