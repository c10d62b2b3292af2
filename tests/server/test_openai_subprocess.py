"""A real `jupyter server` process: preload at start, the sync openai client, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

MODEL = "smollm2-135m-instruct"
TOKEN = "test-token-1234567890"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("server")
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_DATA_DIR": str(root / "jdata"),
    }
    cmd = [
        str(Path(sys.executable).parent / "jupyter"),
        "server",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={root}",
        f"--ChatExtApp.data_dir={root / 'chat-data'}",
        "--ChatExtApp.preload_default_model=True",
    ]
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"token {TOKEN}"}
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/status", headers=headers, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError((root / "server.log").read_text())
    yield {"base": base, "headers": headers, "proc": proc, "root": root}
    if proc.poll() is None:
        proc.kill()
    log.close()


def test_the_default_model_preloads_after_start_without_any_request(server):
    state = None
    for _ in range(600):
        health = httpx.get(f"{server['base']}/chat-ext/health", headers=server["headers"], timeout=10).json()
        loaded = [m["id"] for m in health["engine"]["loaded"]]
        if MODEL in loaded:
            state = "loaded"
            break
        time.sleep(0.2)
    assert state == "loaded"


def test_sync_openai_client(server):
    client = openai.OpenAI(base_url=f"{server['base']}/chat-ext/v1", api_key=TOKEN, max_retries=0)
    assert MODEL in [m.id for m in client.models.list().data]

    resp = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0
    )
    assert resp.choices[0].message.content and resp.usage.completion_tokens <= 8

    parts = []
    for chunk in client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        temperature=0,
        stream=True,
    ):
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
    assert "".join(parts) == resp.choices[0].message.content

    emb = client.embeddings.create(model="all-minilm-l6-v2", input=["hello world", "goodbye"])
    assert [len(d.embedding) for d in emb.data] == [384, 384]


def test_shutdown_closes_the_store(server):
    proc = server["proc"]
    proc.send_signal(signal.SIGTERM)  # jupyter stops: cleanup runs every extension's stop_extension
    assert proc.wait(timeout=60) == 0
    log = (server["root"] / "server.log").read_text()
    assert "Shutting down" in log and "Traceback" not in log
    from jupyter_chat_ext.store.store import Store

    store = Store(server["root"] / "chat-data" / "chat.duckdb")  # the server released the DuckDB lock
    store.close()
