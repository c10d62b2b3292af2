"""Helpers for the server tests: run a test on pytest-jupyter's loop, call the API, read SSE."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

SMALL = {"max_tokens": 8, "temperature": 0, "seed": 1}


def on_jp_loop(fn: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Run an async test on pytest-jupyter's event loop (the loop the server lives on)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        from jupyter_core.utils import ensure_event_loop

        return ensure_event_loop(prefer_selector_loop=True).run_until_complete(fn(*args, **kwargs))

    return run


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """``event: <type>\\ndata: <json>\\n\\n`` frames as (type, data) pairs; ``: comment`` frames
    (the server's keepalives) are skipped, as every SSE client skips them."""
    events = []
    for frame in text.split("\n\n"):
        if not frame.strip() or all(line.startswith(":") for line in frame.split("\n")):
            continue
        kind, data = "message", None
        for line in frame.split("\n"):
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        assert data is not None, f"frame without data: {frame!r}"
        events.append((kind, data))
    return events


@dataclass
class Reply:
    code: int
    body: bytes
    headers: Any
    chunks: list[bytes] = field(default_factory=list)

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def events(self) -> list[tuple[str, dict[str, Any]]]:
        return parse_sse(self.text)


class Api:
    """Calls /chat-ext/ routes through jp_fetch without raising on error statuses."""

    def __init__(self, fetch: Any, token: str) -> None:
        self.fetch = fetch
        self.token = token

    async def call(
        self,
        method: str,
        *path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        timeout: float = 120,
    ) -> Reply:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "request_timeout": timeout}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (bytes, str)) else json.dumps(body)
        elif method in ("POST", "PATCH", "PUT"):
            kwargs["body"] = b""
        chunks: list[bytes] = []
        if stream:
            kwargs["streaming_callback"] = chunks.append
        resp = await self.fetch("chat-ext", *path, params=params, headers=headers, **kwargs)
        raw = b"".join(chunks) if stream else (resp.body or b"")
        return Reply(resp.code, raw, resp.headers, chunks)

    async def get(self, *path: str, **kw: Any) -> Reply:
        return await self.call("GET", *path, **kw)

    async def post(self, *path: str, **kw: Any) -> Reply:
        return await self.call("POST", *path, **kw)

    async def patch(self, *path: str, **kw: Any) -> Reply:
        return await self.call("PATCH", *path, **kw)

    async def delete(self, *path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", *path, **kw)

    async def new_session(self, **fields: Any) -> dict[str, Any]:
        reply = await self.post("sessions", body=fields)
        assert reply.code == 201, reply.body
        return reply.json

    async def chat(
        self, session_id: str, content: str, params: dict[str, Any] | None = None, **kw: Any
    ) -> Reply:
        body = {"content": content, "params": params or SMALL, **kw}
        return await self.post("sessions", session_id, "chat", body=body, stream=True)


def assert_error(reply: Reply, status: int, code: str | None = None) -> dict[str, Any]:
    """A JSON error answer: the status, {"error": {"code", "message"}}, and no stack trace."""
    assert reply.code == status, (reply.code, reply.body[:500])
    assert "Traceback" not in reply.text and 'File "' not in reply.text
    err = reply.json["error"]
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err
