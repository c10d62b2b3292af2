"""Load: a 50-request burst is answered 200/429/503 only and a refusal writes nothing; a slow SQL
query does not freeze Jupyter or the chats (no timing asserts: ordering only, timings are in
bench/bench_faults.py)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from chatproc import SMALL, ChatServer, stream_chat

#: a small queue so that 50 chats at once are partly refused
BURST_ARGS = (
    "--ChatExtApp.preload_default_model=True",
    "--ChatExtApp.max_queue=4",
    "--ChatExtApp.max_batch_size=4",
)
SLOW_SQL = "SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3"


@pytest.mark.timeout(900)
def test_burst_of_50_chats_only_200_429_503_and_refusals_write_nothing(servers, tmp_path):
    server: ChatServer = servers.new(tmp_path / "srv", extra=BURST_ARGS).start()
    server.wait_model()
    sessions = [server.new_session(title=f"burst {i}") for i in range(50)]
    barrier = threading.Barrier(50)

    def one(session_id: str):
        barrier.wait()
        return stream_chat(server, session_id, "Name a colour.", SMALL, timeout=600)

    with ThreadPoolExecutor(max_workers=50) as pool:
        turns = list(pool.map(one, sessions))

    statuses = [t.status for t in turns]
    assert set(statuses) <= {200, 429, 503}, statuses
    assert 429 in statuses or 503 in statuses, f"the burst was never refused: {statuses}"
    for session_id, turn in zip(sessions, turns, strict=True):
        rows = server.messages(session_id)
        if turn.status == 200:
            assert turn.event("done"), turn.events[-1:]
            assert [(m["role"], m["status"]) for m in rows] == [
                ("user", "complete"),
                ("assistant", "complete"),
            ]
        else:
            assert rows == [], f"a refused chat ({turn.status}) wrote {rows}"
            assert '"error"' in (turn.error or "")
    assert httpx.get(f"{server.base}/api/status", headers=server.headers, timeout=30).status_code == 200


@pytest.mark.timeout(900)
def test_refused_chat_carries_retry_after(servers, tmp_path):
    server: ChatServer = servers.new(tmp_path / "srv", extra=BURST_ARGS).start()
    server.wait_model()
    sessions = [server.new_session() for _ in range(30)]
    barrier = threading.Barrier(30)
    seen: list[httpx.Response] = []

    def one(session_id: str) -> None:
        barrier.wait()
        body = {"content": "Name a colour.", "params": SMALL}
        reply = httpx.post(
            server.url(f"sessions/{session_id}/chat"), json=body, headers=server.headers, timeout=600
        )
        seen.append(reply)

    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(one, sessions))
    refused = [r for r in seen if r.status_code in (429, 503)]
    assert refused, [r.status_code for r in seen]
    for reply in refused:
        assert int(reply.headers["Retry-After"]) >= 1
        assert reply.json()["error"]["code"]


@pytest.mark.timeout(900)
def test_slow_sql_query_does_not_block_jupyter_or_chats(servers, tmp_path):
    server: ChatServer = servers.new(
        tmp_path / "srv", extra=("--ChatExtApp.preload_default_model=True",)
    ).start()
    server.wait_model()
    session = server.new_session(title="during sql")
    result: dict[str, httpx.Response] = {}

    def slow() -> None:
        result["sql"] = server.post("sql", {"query": SLOW_SQL}, timeout=300)

    sql = threading.Thread(target=slow)
    sql.start()
    statuses = []
    for _ in range(5):
        statuses.append(
            httpx.get(f"{server.base}/api/status", headers=server.headers, timeout=20).status_code
        )
    turn = stream_chat(server, session, "Say hello.", SMALL, timeout=60)
    listing = server.get("sessions", timeout=20)
    still_running = sql.is_alive()
    sql.join(timeout=300)

    assert statuses == [200] * 5
    assert turn.status == 200 and turn.event("done"), (turn.status, turn.error)
    assert listing.status_code == 200
    assert still_running, "the SQL query ended before the chat: it was not slow enough to test anything"
    reply = result["sql"]
    # the query is stopped at its timeout with a clear error (never a 500)
    assert reply.status_code < 500 or reply.status_code == 503, reply.text
    if reply.status_code != 200:
        assert reply.json()["error"]["code"]
    assert [m["status"] for m in server.messages(session)] == ["complete", "complete"]
