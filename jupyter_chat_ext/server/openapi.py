"""The OpenAPI 3.1 description of the /chat-ext API, served at ``GET /chat-ext/openapi.json``.

The document lives beside this module as ``openapi.yaml`` (YAML, so it can carry comments). Its
paths are written as the OpenAPI form of the patterns in ``routes.ROUTES``; :func:`route_paths`
makes that conversion, so a test can prove that every route is described and that nothing else is.
Paths announced for routes that have not landed yet are left out of the served copy. The document
is parsed once (in a worker thread: PyYAML on ~30 KB takes ~50 ms, too long for the event loop) and
then served from memory with the server's base_url and the package version filled in.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

from .base import READ, ChatExtHandler, requires

SPEC_FILE = Path(__file__).with_name("openapi.yaml")

#: a named group of a route pattern: "(?P<name>...)" with any (non-nested) body
_GROUP = re.compile(r"\(\?P<(?P<name>[A-Za-z_][A-Za-z0-9_]*)>(?:[^()]|\([^()]*\))*\)")


def openapi_path(pattern: str) -> str:
    """``sessions/(?P<session_id>[^/]+)/chat`` -> ``/sessions/{session_id}/chat``."""
    return "/" + _GROUP.sub(lambda m: "{" + m.group("name") + "}", pattern)


def route_paths() -> list[str]:
    """The OpenAPI path of every route the server registers, in routing order."""
    from .routes import ROUTES

    return [openapi_path(pattern) for pattern, _handler in ROUTES]


@functools.cache
def load_spec() -> dict[str, Any]:
    """The document as written (every announced path), parsed once per process."""
    import yaml  # PyYAML comes with jupyter_server (via jupyter_events)

    with SPEC_FILE.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def build_spec(base_url: str = "/", version: str | None = None) -> dict[str, Any]:
    """The served document: only the routes this server has, its prefix, the package version."""
    from jupyter_chat_ext import __version__

    spec = copy.deepcopy(load_spec())
    present = set(route_paths())
    spec["paths"] = {path: item for path, item in spec["paths"].items() if path in present}
    spec["info"]["version"] = version or __version__
    spec["servers"] = [{"url": base_url.rstrip("/") + "/chat-ext"}]
    return spec


class OpenApiHandler(ChatExtHandler):
    """``GET openapi.json``: the description of this API (behind the same auth as the API)."""

    @requires(READ)
    async def get(self) -> None:
        base_url = self.settings.get("base_url", "/")
        spec = await self.blocking(build_spec, base_url)
        self.send_json(spec)
