"""The server-mode client: HTTP + SSE to ``<base>/chat-ext/`` (httpx + httpx-sse)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import connect_sse

from ..errors import ChatExtError, InvalidInput, Unavailable, error_from
from . import retry
from .client import ChatClient, EventStream
from .discovery import ServerInfo


def error_from_response(resp: httpx.Response) -> ChatExtError:
    """The typed error an error response stands for (``{"error": {"code", "message"}}``)."""
    code: str | None = None
    message = f"HTTP {resp.status_code} from {resp.request.method} {resp.request.url.path}"
    try:
        body = resp.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            code = err.get("code") or None
            message = err.get("message") or message
        elif isinstance(body, dict) and body.get("message"):
            message = str(body["message"])
    except (ValueError, UnicodeDecodeError):
        pass
    return error_from(code, message, status=resp.status_code)  # errors.py owns code/status -> class


def _q(part: str) -> str:
    return quote(str(part), safe="")


class HttpClient(ChatClient):
    """Talks to the chat extension of a running Jupyter server."""

    mode = "server"

    def __init__(
        self, server: ServerInfo, timeout: float = 30.0, retry_policy: retry.RetryPolicy | None = None
    ) -> None:
        self.server = server
        #: 429/503 with Retry-After are retried (a refused request wrote nothing)
        self.retry = retry_policy or retry.RetryPolicy()
        self._http = httpx.Client(
            base_url=server.api_url,
            headers=server.headers(),
            transport=server.transport(),
            timeout=httpx.Timeout(timeout),
        )
        self._routes_missing: set[str] = set()

    # -- plumbing --------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        attempt = 1
        while True:
            try:
                resp = self._http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                raise Unavailable(f"the Jupyter server at {self.server.url} did not answer: {exc}") from exc
            if resp.status_code < 400:
                return resp
            self._maybe_retry(resp, attempt, f"{method} {path}")
            attempt += 1

    def _maybe_retry(self, resp: httpx.Response, attempt: int, what: str) -> None:
        """Wait before the next try of a refused request (see retry.py); raise when giving up."""
        delay = self.retry.delay(resp.status_code, resp.headers.get("Retry-After"), attempt)
        if delay is None:
            raise error_from_response(resp)
        retry.announce(resp.status_code, delay, attempt, self.retry.tries, what)
        retry.wait(delay)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._request(method, path, **kwargs)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "url": self.server.url,
            "root_dir": str(self.server.root_dir) if self.server.root_dir else None,
        }

    def health(self) -> dict[str, Any]:
        return self._json("GET", "health")

    def close(self) -> None:
        self._http.close()

    # -- models ----------------------------------------------------------------------------------
    def list_models(self) -> list[dict[str, Any]]:
        return self._json("GET", "models")["models"]

    def get_model(self, model_id: str) -> dict[str, Any]:
        return self._json("GET", f"models/{_q(model_id)}")

    def start_load(self, model_id: str) -> dict[str, Any]:
        return self._json("POST", f"models/{_q(model_id)}/load", json={})

    def unload_model(self, model_id: str) -> dict[str, Any]:
        return self._json("POST", f"models/{_q(model_id)}/unload", json={})

    # -- sessions --------------------------------------------------------------------------------
    def create_session(
        self,
        title: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = {"title": title, "model": model, "system_prompt": system_prompt, "params": params}
        return self._json("POST", "sessions", json={k: v for k, v in body.items() if v is not None})

    def get_session(self, session_id: str) -> dict[str, Any]:
        return self._json("GET", f"sessions/{_q(session_id)}")

    def list_sessions(self, q: str | None = None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"limit": limit, "offset": offset}
        if q:
            query["q"] = q
        return self._json("GET", "sessions", params=query)["sessions"]

    def update_session(self, session_id: str, **fields: Any) -> dict[str, Any]:
        return self._json("PATCH", f"sessions/{_q(session_id)}", json=fields)

    def delete_session(self, session_id: str) -> None:
        self._request("DELETE", f"sessions/{_q(session_id)}")

    def list_messages(
        self, session_id: str, before: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"limit": limit}
        if before is not None:
            query["before"] = before
        return self._json("GET", f"sessions/{_q(session_id)}/messages", params=query)["messages"]

    def switch_branch(self, session_id: str, message_id: int) -> int:
        path = f"sessions/{_q(session_id)}/messages/{int(message_id)}/branch"
        return int(self._json("POST", path, json={})["head_id"])

    def export_session(self, session_id: str, fmt: str = "json") -> str:
        return self._request("GET", f"sessions/{_q(session_id)}/export", params={"format": fmt}).text

    # -- turns -----------------------------------------------------------------------------------
    def chat(
        self,
        session_id: str,
        content: str,
        params: dict[str, Any] | None = None,
        rag: dict[str, Any] | None = None,
        tools: dict[str, Any] | None = None,
        context: list[dict[str, Any]] | None = None,
    ) -> EventStream:
        body: dict[str, Any] = {"content": content}
        if context:
            body["context"] = context
        if params:
            body["params"] = params
        if rag:
            body["rag"] = rag
        if tools is not None:
            body["tools"] = tools
        return self._sse(f"sessions/{_q(session_id)}/chat", body)

    def reply_tool_call(
        self, call_id: str, decision: str, result: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        body = {"decision": decision, "result": result, "token": token}
        return self._json("POST", f"tool-calls/{_q(call_id)}", json=body)

    def continue_answer(
        self, session_id: str, message_id: int, params: dict[str, Any] | None = None
    ) -> EventStream:
        body: dict[str, Any] = {"params": params} if params else {}
        return self._sse(f"sessions/{_q(session_id)}/messages/{int(message_id)}/continue", body)

    def _sse(self, path: str, body: dict[str, Any]) -> EventStream:
        attempt = 1
        while True:
            # no read timeout: the first token may wait for a model load
            ctx = connect_sse(self._http, "POST", path, json=body, timeout=httpx.Timeout(30.0, read=None))
            try:
                source = ctx.__enter__()
            except httpx.HTTPError as exc:
                raise Unavailable(f"the Jupyter server at {self.server.url} did not answer: {exc}") from exc
            resp = source.response
            if resp.status_code < 400:
                break
            resp.read()
            ctx.__exit__(None, None, None)
            self._maybe_retry(resp, attempt, "the request")
            attempt += 1

        def events() -> Iterator[dict[str, Any]]:
            try:
                for sse in source.iter_sse():
                    if not sse.data:
                        continue
                    event = json.loads(sse.data)
                    if isinstance(event, dict):
                        event.setdefault("type", sse.event)
                        yield event
            except httpx.HTTPError as exc:
                raise Unavailable(f"the event stream from {self.server.url} broke: {exc}") from exc
            finally:
                ctx.__exit__(None, None, None)

        gen = events()
        # closing the response drops the connection: the server cancels the turn and keeps the
        # partial answer as "interrupted"
        return EventStream(gen, on_close=gen.close)

    # -- retrieval -------------------------------------------------------------------------------
    def list_collections(self) -> list[dict[str, Any]]:
        return self._json("GET", "collections")["collections"]

    def create_collection(self, name: str) -> dict[str, Any]:
        return self._json("POST", "collections", json={"name": name})

    def _server_relative(self, path: str) -> str:
        """Paths are relative to the server's root dir; translate the kernel's own paths."""
        root = self.server.root_dir
        p = Path(path).expanduser()
        if not p.is_absolute():
            p = Path(os.getcwd()) / p
        p = p.resolve()
        if root is not None:
            try:
                return p.relative_to(root).as_posix()
            except ValueError:
                raise InvalidInput(f"{path} is outside the Jupyter server's root dir {root}") from None
        return str(path)

    def start_ingest(self, name: str, paths: list[str]) -> dict[str, Any]:
        rel = [self._server_relative(p) for p in paths]
        return self._json("POST", f"collections/{_q(name)}/documents", json={"paths": rel})

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"jobs/{_q(job_id)}")

    def search(self, name: str, query: str, k: int = 5, mode: str = "hybrid") -> list[dict[str, Any]]:
        return self._json("GET", f"collections/{_q(name)}/search", params={"q": query, "k": k, "mode": mode})[
            "results"
        ]

    # -- store extras (routes beyond docs/architecture.md: POST sql, GET/PUT cache/{key}) ----------
    def sql(self, query: str) -> tuple[list[str], list[list[Any]]]:
        try:
            resp = self._http.post("sql", json={"query": query})
        except httpx.HTTPError as exc:
            raise Unavailable(f"the Jupyter server at {self.server.url} did not answer: {exc}") from exc
        if resp.status_code in (404, 405):
            raise Unavailable(
                "this Jupyter server offers no SQL over the chat store (no chat-ext/sql route); "
                "use `%chat history` or run without a server (JUPYTER_CHAT_EXT_MODE=local)"
            )
        if resp.status_code >= 400:
            raise error_from_response(resp)
        body = resp.json()
        return list(body["columns"]), [list(row) for row in body["rows"]]

    def cache_get(self, key: str) -> dict[str, Any] | None:
        if "cache" in self._routes_missing:
            return None
        try:
            resp = self._http.get(f"cache/{_q(key)}")
        except httpx.HTTPError:
            return None
        if resp.status_code == 200:
            value = resp.json()
            return value.get("value", value) if isinstance(value, dict) else None
        if resp.status_code in (404, 405) and "application/json" not in resp.headers.get("content-type", ""):
            self._routes_missing.add("cache")
        return None

    def cache_put(self, key: str, value: dict[str, Any]) -> None:
        if "cache" in self._routes_missing:
            return
        try:
            resp = self._http.put(f"cache/{_q(key)}", json={"value": value})
        except httpx.HTTPError:
            return
        if resp.status_code in (404, 405):
            self._routes_missing.add("cache")
