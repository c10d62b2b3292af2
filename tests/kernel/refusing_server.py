"""A stand-in chat-ext server that refuses first (429/503 + Retry-After), then answers.

For the kernel client's retry mechanics only: real refusals from the real server need a full
queue at just the right moment, which no test can schedule reliably. It speaks the same routes
and shapes as the real extension for the few calls a ``%%chat`` makes (health, sessions, model
state, the chat SSE stream) and records every request it got.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "stand-in-model"
SESSION = {"id": "0" * 32, "title": None, "model": None, "system_prompt": None, "params": {}}


class RefusingServer:
    """``refusals``: (status, retry_after or None) answered to the first chat POSTs, in order."""

    def __init__(
        self, refusals: list[tuple[int, str | None]], answer: str = "Hello from the stand-in"
    ) -> None:
        self.refusals = list(refusals)
        self.answer = answer
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest's output clean
                pass

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                server.requests.append(("GET", self.path))
                if self.path.endswith("/health"):
                    self._json(200, {"status": "ok", "engine": {"default_model": MODEL}})
                elif f"/models/{MODEL}" in self.path:
                    self._json(200, {"id": MODEL, "state": "loaded", "progress": 1.0})
                elif self.path.split("?")[0].endswith(f"/sessions/{SESSION['id']}"):
                    self._json(200, SESSION)
                else:
                    self._json(404, {"error": {"code": "not_found", "message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.requests.append(("POST", self.path))
                if self.path.endswith("/sessions"):
                    self._json(201, SESSION)
                    return
                if not self.path.endswith("/chat"):
                    self._json(404, {"error": {"code": "not_found", "message": f"no route {self.path}"}})
                    return
                if server.refusals:
                    status, retry_after = server.refusals.pop(0)
                    code = "busy" if status == 429 else "unavailable"
                    headers = {"Retry-After": retry_after} if retry_after is not None else {}
                    self._json(status, {"error": {"code": code, "message": f"refused ({status})"}}, headers)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                events = [
                    ("start", {"session_id": SESSION["id"], "assistant_message_id": 2, "model": MODEL}),
                    *[("token", {"text": word + " "}) for word in server.answer.split()],
                    ("done", {"status": "complete", "finish_reason": "stop", "message_id": 2}),
                ]
                for name, data in events:
                    self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def chat_posts(self) -> int:
        return sum(1 for method, path in self.requests if method == "POST" and path.endswith("/chat"))

    def __enter__(self) -> RefusingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
