"""Real IPython kernels and a real Jupyter server for the kernel-side tests (helpers, no fixtures)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty
from typing import Any

import httpx
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parents[2]


def base_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The environment of a kernel or server under test: offline, shared model cache, own dirs.

    ``JUPYTER_RUNTIME_DIR`` points into ``tmp`` so that no server of the machine's other users is
    discovered by accident.
    """
    env = dict(os.environ)
    for key in ("JUPYTER_CHAT_EXT_URL", "JUPYTER_CHAT_EXT_TOKEN", "JUPYTER_CHAT_EXT_MODE"):
        env.pop(key, None)
    runtime = tmp / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "JUPYTER_CHAT_EXT_MODEL_CACHE": os.environ.get(
                "JUPYTER_CHAT_EXT_MODEL_CACHE", str(REPO / ".cache" / "models")
            ),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "JUPYTER_CHAT_EXT_DATA_DIR": str(tmp / "data"),
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Execution:
    """What one execute_request produced: the reply and this request's iopub messages."""

    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.reply["content"]["status"]

    def of_type(self, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] in types]

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == "stderr"
        )

    @property
    def error_text(self) -> str:
        errs = self.of_type("error")
        return "\n".join("\n".join(e["content"]["traceback"]) + e["content"]["evalue"] for e in errs)

    def data(self, mime: str = "text/plain") -> list[str]:
        """Every ``mime`` payload of display_data / update_display_data / execute_result, in order."""
        out = []
        for m in self.of_type("display_data", "update_display_data", "execute_result"):
            value = m["content"]["data"].get(mime)
            if value is not None:
                out.append(value)
        return out

    def all_text(self) -> str:
        return self.stdout + self.stderr + "\n".join(self.data()) + "\n".join(self.data("text/markdown"))


class Kernel:
    """A real ipykernel started through jupyter_client, with a blocking client."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env, cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def execute(self, code: str, timeout: float = 240.0, on_message: Any = None) -> Execution:
        msg_id = self.kc.execute(code)
        messages: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except Empty:
                raise TimeoutError(f"no idle after {timeout} s running {code[:60]!r}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            messages.append(msg)
            if on_message is not None:
                on_message(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        while True:
            reply = self.kc.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                return Execution(reply, messages)

    def value(self, expr: str) -> Any:
        """Evaluate ``expr`` in the kernel and return it (via its JSON repr)."""
        res = self.execute(f"import json as _j; print(_j.dumps({expr}, default=str))")
        assert res.status == "ok", res.error_text
        import json

        return json.loads(res.stdout.strip().splitlines()[-1])

    def interrupt(self) -> None:
        self.km.interrupt_kernel()

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        finally:
            self.km.shutdown_kernel(now=True)


class JupyterServer:
    """``jupyter server`` in a subprocess on a free port, with a token and its own data dir."""

    def __init__(self, tmp: Path, root: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.root = root
        self.env = base_env(tmp, JUPYTER_CHAT_EXT_DATA_DIR=str(tmp / "server-data"), **(extra_env or {}))
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = tmp / "server.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                "--no-browser",
                "--allow-root",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={root}",
            ],
            env=self.env,
            cwd=str(root),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.url + "chat-ext/" + path, headers=self.headers, timeout=30, **kwargs)

    def wait_ready(self, model: str = "smollm2-135m-instruct", timeout: float = 240.0) -> None:
        """Wait until chat-ext/health answers and the default model is loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                resp = self.get(f"models/{model}")
                if resp.status_code == 200:
                    state = resp.json().get("state")
                    if state == "loaded":
                        return
                    if state in ("unloaded", "error"):
                        httpx.post(
                            self.url + f"chat-ext/models/{model}/load",
                            headers=self.headers,
                            timeout=30,
                            json={},
                        )
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"server not ready:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@contextmanager
def server_mode_kernel(server: JupyterServer, tmp: Path) -> Iterator[Kernel]:
    """A kernel pointed at ``server`` (JUPYTER_CHAT_EXT_URL / _TOKEN), the extension loaded."""
    env = base_env(
        tmp,
        JUPYTER_CHAT_EXT_URL=server.url,
        JUPYTER_CHAT_EXT_TOKEN=server.token,
        JUPYTER_CHAT_EXT_MODE="server",
    )
    kernel = Kernel(env, cwd=server.root)
    try:
        res = kernel.execute("%load_ext jupyter_chat_ext")
        assert res.status == "ok", res.error_text
        yield kernel
    finally:
        kernel.shutdown()
