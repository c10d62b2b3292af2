"""A stand-in OpenAI-compatible endpoint on 127.0.0.1 for the providers tests (server and browser).

``GET /v1/models`` lists one model (``echo-1``); ``POST /v1/chat/completions`` answers a fixed
text, streamed as OpenAI's chunks or whole. When started with a key it answers 401 to any other
``Authorization``, and it records every header it saw, so a test can prove which key was sent.
Run as a script (``python openai_standin.py --key K``) it prints its base URL and serves until
killed (the browser test runs it so).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKENS = ["Hello", " from", " the", " stand", "-in", "."]


class _StandIn(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint: /v1/models and streamed /v1/chat/completions, key checked."""

    def log_message(self, *args: object) -> None:
        pass

    def _authorized(self) -> bool:
        seen = self.headers.get("Authorization", "")
        self.server.auth_seen.append(seen)  # type: ignore[attr-defined]
        want = self.server.key  # type: ignore[attr-defined]
        if want and seen != f"Bearer {want}":
            body = json.dumps(
                {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
            )
            self._send(401, body.encode(), "application/json")
            return False
        return True

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            data = {"object": "list", "data": [{"id": "echo-1", "object": "model"}]}
            self._send(200, json.dumps(data).encode(), "application/json")
        else:
            self._send(404, b'{"error": "no such route"}', "application/json")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self._authorized():
            return
        path = self.path.rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._send(404, b'{"error": "no such route"}', "application/json")
            return
        chat = path.endswith("/chat/completions")
        kind = "chat.completion" if chat else "text_completion"
        if not body.get("stream"):
            text = "".join(TOKENS)
            choice = {"index": 0, "finish_reason": "stop"}
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            answer = {"id": "c1", "object": kind, "model": body.get("model"), "choices": [choice]}
            self._send(200, json.dumps(answer).encode(), "application/json")
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for tok in TOKENS:
            choice = {"index": 0, "finish_reason": None}
            choice.update({"delta": {"content": tok}} if chat else {"text": tok})
            chunk = {"id": "c1", "object": f"{kind}.chunk", "model": body.get("model"), "choices": [choice]}
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        end_choice = {"index": 0, "finish_reason": "stop", **({"delta": {}} if chat else {"text": ""})}
        end = {"id": "c1", "object": f"{kind}.chunk", "choices": [end_choice]}
        self.wfile.write(b"data: " + json.dumps(end).encode() + b"\n\ndata: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


@contextlib.contextmanager
def standin(key: str | None, port: int = 0) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """(base_url, server) of a stand-in endpoint that wants ``key`` (None: any)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _StandIn)
    server.key = key  # type: ignore[attr-defined]
    server.auth_seen = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", server
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--key", default=None)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with standin(args.key, args.port) as (url, srv):
        print(url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            sys.exit(0)
