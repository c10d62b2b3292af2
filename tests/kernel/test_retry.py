"""The kernel client retries a refused request (429/503 + Retry-After) and says so.

Against ``RefusingServer`` (a stand-in that refuses first, then answers; see its docstring):
in-process through ``HttpClient``, and in a real kernel where the notice lands in the cell output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kernel_harness import Kernel, base_env
from refusing_server import SESSION, RefusingServer

from jupyter_chat_ext.errors import Busy, Unavailable
from jupyter_chat_ext.kernel.discovery import ServerInfo
from jupyter_chat_ext.kernel.http_client import HttpClient
from jupyter_chat_ext.kernel.retry import RetryPolicy, retry_notices


def chat_events(client: HttpClient) -> list[dict]:
    with client.chat(SESSION["id"], "hi") as stream:
        return list(stream)


def test_a_refused_chat_is_retried_after_retry_after_and_announced() -> None:
    notices: list[str] = []
    with RefusingServer([(429, "1"), (503, "0")]) as server:
        client = HttpClient(ServerInfo(server.url))
        with retry_notices(notices.append):
            events = chat_events(client)
        client.close()
    assert server.chat_posts() == 3
    assert events[0]["type"] == "start" and events[-1]["type"] == "done"
    assert "".join(e["text"] for e in events if e["type"] == "token").strip() == "Hello from the stand-in"
    assert notices == [
        "chat: the server is busy (429), retrying the request in 1 s (try 2 of 3)",
        "chat: the server is not ready (503), retrying the request in 0 s (try 3 of 3)",
    ]


def test_the_client_gives_up_after_three_tries_with_the_servers_error() -> None:
    notices: list[str] = []
    with RefusingServer([(429, "0")] * 5) as server:
        client = HttpClient(ServerInfo(server.url))
        with retry_notices(notices.append), pytest.raises(Busy, match=r"refused \(429\)"):
            chat_events(client)
        client.close()
    assert server.chat_posts() == 3
    assert len(notices) == 2


def test_a_503_without_retry_after_is_not_retried() -> None:
    with RefusingServer([(503, None)]) as server:
        client = HttpClient(ServerInfo(server.url))
        with pytest.raises(Unavailable, match=r"refused \(503\)"):
            chat_events(client)
        client.close()
    assert server.chat_posts() == 1


def test_retry_policy_honours_retry_after_within_bounds() -> None:
    policy = RetryPolicy(tries=3, max_wait_s=30.0, fallback_s=1.0)
    assert policy.delay(429, "2", 1) == 2.0
    assert policy.delay(503, "600", 1) == 30.0  # capped: a cell should not sleep for minutes
    assert policy.delay(429, "Wed, 21 Oct 2026 07:28:00 GMT", 2) == 2.0  # a date: backoff instead
    assert policy.delay(429, "1", 3) is None  # the third try was the last
    assert policy.delay(429, None, 1) is None  # no Retry-After: the refusal is final
    assert policy.delay(500, "1", 1) is None


def test_the_retry_notice_reaches_the_cell_output(tmp_path: Path) -> None:
    with RefusingServer([(429, "1")]) as server:
        env = base_env(tmp_path, JUPYTER_CHAT_EXT_URL=server.url, JUPYTER_CHAT_EXT_MODE="server")
        kernel = Kernel(env, cwd=tmp_path)
        try:
            assert kernel.execute("%load_ext jupyter_chat_ext").status == "ok"
            res = kernel.execute("%%chat --out said\nhello")
            assert res.status == "ok", res.error_text
            assert "the server is busy (429), retrying the request in 1 s (try 2 of 3)" in res.stderr
            assert "Hello from the stand-in" in res.data("text/markdown")[-1]
            assert kernel.value("said").strip() == "Hello from the stand-in"
        finally:
            kernel.shutdown()
    assert server.chat_posts() == 2
