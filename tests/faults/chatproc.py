"""A real `jupyter server` process with the extension, for fault tests, the fuzzer and bench_faults.

Each server gets a free port, a token, its own Jupyter runtime/config dirs and a data dir the caller
chooses (two servers may share one on purpose). It can be killed with SIGKILL (no cleanup runs: the
point of a crash test) or stopped with SIGTERM, then started again on the same data dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

TOKEN = "fault-token-0123456789abcdef"
MODEL = "smollm2-135m-instruct"
#: small, seeded, greedy: a turn that decodes a few tokens
SMALL = {"max_tokens": 8, "temperature": 0, "seed": 1}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ChatServer:
    """One `jupyter server` subprocess; ``start()`` returns once /api/status answers."""

    def __init__(
        self,
        root: Path,
        *,
        data_dir: Path | None = None,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        """``env``: variables set (over the offline defaults below) in the server's environment."""
        self.root = Path(root)
        self.env = dict(env or {})
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.root / "chat-data"
        self.extra = tuple(extra)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self.headers = {"Authorization": f"token {TOKEN}"}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/chat-ext/{path.lstrip('/')}"

    @property
    def log_path(self) -> Path:
        return self.root / f"server-{self.starts}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, timeout: float = 300) -> ChatServer:
        self.starts += 1
        self.port = free_port()
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.root / "runtime"),
            "JUPYTER_CONFIG_DIR": str(self.root / "config"),
            "JUPYTER_DATA_DIR": str(self.root / "jdata"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            **self.env,
        }
        cmd = [
            str(Path(sys.executable).parent / "jupyter"),
            "server",
            "--no-browser",
            "--allow-root",
            f"--port={self.port}",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={self.root}",
            f"--ChatExtApp.data_dir={self.data_dir}",
            *self.extra,
        ]
        # only our extension: JupyterLab, LSP and terminals add seconds to every start here
        config = self.root / "config"
        config.mkdir(exist_ok=True)
        (config / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {
                            name: False
                            for name in (
                                "jupyterlab",
                                "jupyter_lsp",
                                "jupyter_server_terminals",
                                "notebook_shim",
                            )
                        }
                    }
                }
            )
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.base}/api/status", headers=self.headers, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"jupyter server did not answer in {timeout} s:\n{self.log()}")

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url(path), headers=self.headers, timeout=kw.pop("timeout", 60), **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return httpx.post(
            self.url(path), headers=self.headers, json=body, timeout=kw.pop("timeout", 120), **kw
        )

    def wait_health(self, timeout: float = 180) -> httpx.Response:
        """The first /health answer once the core is built (200, or 503 when it cannot start)."""
        deadline = time.monotonic() + timeout
        reply = None
        while time.monotonic() < deadline:
            reply = self.get("health", timeout=30)
            if reply.status_code in (200, 503):
                return reply
            time.sleep(0.3)
        raise AssertionError(f"no health answer: {reply}")

    def wait_model(self, model: str = MODEL, timeout: float = 900) -> None:
        self.post(f"models/{model}/load")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.get(f"models/{model}").json()
            if info.get("state") == "loaded":
                return
            if info.get("state") == "error":
                raise AssertionError(f"model failed to load: {info}")
            time.sleep(0.3)
        raise AssertionError(f"{model} did not load in {timeout} s")

    def new_session(self, **fields: Any) -> str:
        reply = self.post("sessions", fields)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    def messages(self, session_id: str) -> list[dict[str, Any]]:
        reply = self.get(f"sessions/{session_id}/messages", params={"limit": 1000})
        assert reply.status_code == 200, reply.text
        return list(reply.json()["messages"])

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook runs (what a crash or the OOM killer does)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    kill = kill9

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 60 s; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()
        return self.proc.returncode

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.kill9()


class Fleet:
    """The servers one test started (so teardown kills every one of them)."""

    def __init__(self) -> None:
        self.started: list[ChatServer] = []

    def new(self, root: Path, **kw: Any) -> ChatServer:
        server = ChatServer(root, **kw)
        self.started.append(server)
        return server

    def kill_all(self) -> None:
        for server in self.started:
            server.kill9()


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, data) of each ``event:``/``data:`` frame of a text/event-stream."""
    kind, data = "message", None
    for line in lines:
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data = json.loads(line[len("data: ") :])
        elif line == "" and data is not None:
            yield kind, data
            kind, data = "message", None
    if data is not None:
        yield kind, data


class TurnStream:
    """A chat turn read as it streams: the text the client saw, with a timestamp per token."""

    def __init__(self) -> None:
        self.status = 0
        self.tokens: list[tuple[float, str]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.error: str | None = None

    def text_before(self, t: float) -> str:
        return "".join(text for at, text in self.tokens if at <= t)

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.tokens)

    def event(self, kind: str) -> dict[str, Any] | None:
        return next((data for k, data in self.events if k == kind), None)


def stream_chat(
    server: ChatServer,
    session_id: str,
    content: str,
    params: dict[str, Any],
    *,
    out: TurnStream | None = None,
    stop_after_s: float | None = None,
    timeout: float = 300,
) -> TurnStream:
    """POST a chat turn and read its events into ``out`` (the caller may read it from another thread).

    With ``stop_after_s`` the client closes the connection that long after the first token (a
    client disconnect). Connection errors (the server was killed) end the read quietly.
    """
    out = out or TurnStream()
    body = {"content": content, "params": params}
    first: float | None = None
    try:
        with httpx.stream(
            "POST",
            server.url(f"sessions/{session_id}/chat"),
            headers=server.headers,
            json=body,
            timeout=timeout,
        ) as resp:
            out.status = resp.status_code
            if resp.status_code != 200:
                resp.read()
                out.error = resp.text
                return out
            for kind, data in sse_events(resp.iter_lines()):
                now = time.monotonic()
                out.events.append((kind, data))
                if kind == "token":
                    out.tokens.append((now, str(data.get("text", ""))))
                    first = first or now
                if stop_after_s is not None and first is not None and now - first >= stop_after_s:
                    break
    except (httpx.HTTPError, OSError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
    return out
