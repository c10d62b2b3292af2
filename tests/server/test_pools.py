"""Slow core calls run on a pool of their own: a long SQL query holds up neither Jupyter nor chats.

Issue 12 measured ``/api/status`` at 28.5 s while ``POST /chat-ext/sql`` scanned a huge range: the
handlers' 4 worker threads and the store lock were taken. The assertions here are about order
(the other requests answer while the query is still running), not about timings (bench/ has those).
"""

from __future__ import annotations

import asyncio

import pytest
from server_testlib import on_jp_loop

#: a query that keeps DuckDB busy for seconds (it is interrupted at its timeout at the latest)
SLOW_SQL = "SELECT count(*) FROM range(50000000000) t(i) WHERE i % 7 = 3"


@pytest.fixture
def chat_ext_overrides():
    return {"slow_worker_threads": 1}


@on_jp_loop
async def test_the_pools_are_the_extensions_own(chat_app):
    from jupyter_chat_ext.server.pools import quick_workers

    assert chat_app.pools.quick._max_workers == quick_workers() >= 8
    assert chat_app.pools.slow._max_workers == 1
    assert chat_app.pools.sql._max_workers == 1  # SQL: one query at a time, never on the slow pool


@on_jp_loop
async def test_a_slow_query_does_not_hold_up_jupyter_or_the_chat_routes(api, chat_app, jp_fetch):
    sid = (await api.new_session(title="before"))["id"]
    slow = asyncio.ensure_future(api.post("sql", body={"query": SLOW_SQL}, timeout=120))
    await asyncio.sleep(0.5)  # the query is under way on the slow pool
    # Jupyter's own API, store reads and store writes all answer while the query runs
    assert (await jp_fetch("api", "status")).code == 200
    assert (await api.get("sessions")).code == 200
    assert (await api.get("sessions", sid, "messages")).code == 200
    assert (await api.patch("sessions", sid, body={"title": "during"})).code == 200
    assert (await api.post("sessions", body={"title": "new"})).code == 201
    assert (await api.get("health")).code == 200
    # SQL runs one at a time on a thread of its own: a second query is refused at once (429 with
    # Retry-After), and an export (the slow pool, which SQL no longer shares) is not held up
    second = await api.post("sql", body={"query": "SELECT 1"})
    assert second.code == 429 and second.json["error"]["code"] == "busy", second.body
    assert int(second.headers["Retry-After"]) >= 1
    assert (await api.get("sessions", sid, "export")).code == 200
    assert not slow.done()  # all of the above came back first
    first = await slow
    assert first.code in (200, 400), first.body  # an answer, or query_timeout at its limit
    if first.code == 400:
        assert first.json["error"]["code"] == "query_timeout"
