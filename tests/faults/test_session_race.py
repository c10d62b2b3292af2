"""One writer per session, against a real server: 6 chats and 1 regenerate fired together at one
session, 20 times. Before the session lock a regenerate deleted the rows of a chat still streaming
("no message 43") and a chat's user message vanished. Now the first request holds the session and
the others are refused with 409 ``session_busy`` before they write: 0 rows lost."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from chatproc import SMALL, ChatServer, sse_events

ROUNDS = 20


def post_stream(server: ChatServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """One streamed turn: its status, events and (on a refusal) its error body."""
    out: dict[str, Any] = {"status": 0, "events": [], "error": None}
    with httpx.stream("POST", server.url(path), headers=server.headers, json=body, timeout=300) as resp:
        out["status"] = resp.status_code
        if resp.status_code != 200:
            resp.read()
            out["error"] = resp.json()["error"]
            return out
        out["events"] = list(sse_events(resp.iter_lines()))
    return out


@pytest.mark.timeout(900)
def test_chats_racing_a_regenerate_lose_no_rows(servers, tmp_path):
    server: ChatServer = servers.new(tmp_path / "srv", extra=("--ChatExtApp.preload_default_model=True",))
    server.start()
    server.wait_model()
    statuses: list[int] = []
    for _ in range(ROUNDS):
        sid = server.new_session()
        seed = post_stream(server, f"sessions/{sid}/chat", {"content": "Hi.", "params": SMALL})
        assert seed["status"] == 200
        barrier = threading.Barrier(7)
        jobs = [(f"sessions/{sid}/chat", {"content": f"Name colour {i}.", "params": SMALL}) for i in range(6)]
        jobs.append((f"sessions/{sid}/regenerate", {"params": SMALL}))

        def one(job: tuple[str, dict[str, Any]], barrier: threading.Barrier = barrier) -> dict[str, Any]:
            barrier.wait()
            return post_stream(server, *job)

        with ThreadPoolExecutor(max_workers=7) as pool:
            results = list(pool.map(one, jobs))
        rows = {m["id"]: m for m in server.messages(sid)}
        for result in results:
            statuses.append(result["status"])
            assert result["status"] in (200, 409, 429, 503), result
            if result["status"] == 409:
                assert result["error"]["code"] == "session_busy", result
                continue
            if result["status"] != 200:
                continue
            kinds = [kind for kind, _ in result["events"]]
            assert kinds[-1] == "done", result["events"][-3:]  # never "error: no message N"
            start = dict(result["events"])["start"]
            # the user message and the answer this stream was given both still exist, complete
            assert start["user_message_id"] in rows, (start, sorted(rows))
            answer = rows.get(start["assistant_message_id"])
            assert answer is not None and answer["status"] == "complete", (start, answer)
            done = dict(result["events"])["done"]
            assert answer["content"] == done["text"]
    # the race really happened: requests found their session held
    assert 409 in statuses and statuses.count(200) >= ROUNDS, statuses
