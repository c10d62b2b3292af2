"""llama.cpp's own ``llama-server`` as the benches' anchor, and the clients that talk to it.

The anchor runs beside our Jupyter server on the same weights, and the two take turns; an idle
one must cost nothing, hence ``side_client``'s connections that close after each answer.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench_server import MODEL, stop_process


def side_client(base_url: str, api_key: str) -> Any:
    """An OpenAI client whose connections close after each answer.

    Two servers run side by side and take turns; an idle one must cost nothing. llama-server's
    HTTP library polls every kept-alive connection every 10 ms (cpp-httplib's keep_alive loop):
    after a 4-chat round its 4 threads woke ~75 times a second each all through our next round,
    preempting our decode threads ~1,100 times in a 6.5 s round (perf sched), so the idle anchor
    slowed the measured server at 4 and 8 chats, not at 1. Without keep-alive nothing polls.
    """
    import httpx
    from openai import AsyncOpenAI

    pool = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), timeout=600)
    return AsyncOpenAI(base_url=base_url, api_key=api_key, http_client=pool)


def find_llama_server(explicit: str | None) -> Path | None:
    """llama.cpp's own server binary: --llama-server, $LLAMA_SERVER, or .cache/llama-server/."""
    for cand in (explicit, os.environ.get("LLAMA_SERVER"), ".cache/llama-server/llama-server"):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return Path(cand)
    return None


#: llama-server's KV layouts: its default for ``-np 8`` on this model (8192 cells, 1024 a slot, each
#: slot attends only to its own cells) and ours (one unified pool of 4096 cells, so one chat may
#: use all of it; every sequence's attention spans the pool's used range)
ANCHOR_KV = {"split": ["-c", "8192"], "unified": ["-c", "4096", "-kvu"]}


class LlamaServerAnchor:
    """``llama-server -np 8 -c 8192 -t N`` on the weights our server runs: the concurrency anchor.

    ``layout``: its slot and context arguments instead (bench_prompt_read: ``-np 1 -c 8192``)."""

    def __init__(
        self,
        binary: Path,
        tmp: Path,
        n_threads: int,
        weights: Path,
        kv: str = "split",
        alias: str = MODEL,
        layout: list[str] | None = None,
    ) -> None:
        from bench_server import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self.log = open(tmp / "llama-server.log", "ab")  # noqa: SIM115 - closed in stop()
        layout = ["-np", "8", *ANCHOR_KV[kv]] if layout is None else layout
        cmd = [
            str(binary), "-m", str(weights), *layout, "-t", str(n_threads),
            "-a", alias, "--host", "127.0.0.1", "--port", str(self.port),
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 120) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.base.removesuffix("/v1") + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("llama-server did not start")

    def stop(self) -> None:
        stop_process(self.proc, self.log)
