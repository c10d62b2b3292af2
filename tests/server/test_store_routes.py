"""Store extras for the kernel client: read-only SQL and the response cache."""

from __future__ import annotations

from server_testlib import assert_error, on_jp_loop


@on_jp_loop
async def test_read_only_sql_over_the_chat_store(api):
    await api.new_session(title="alpha")
    await api.new_session(title="beta")
    reply = await api.post("sql", body={"query": "SELECT title FROM sessions ORDER BY title"})
    assert reply.code == 200, reply.body
    assert reply.json == {"columns": ["title"], "rows": [["alpha"], ["beta"]]}
    reply = await api.post("sql", body={"query": "SELECT title FROM sessions ORDER BY title", "max_rows": 1})
    assert reply.json["rows"] == [["alpha"]]
    assert_error(await api.post("sql", body={"query": "DELETE FROM sessions"}), 400, "invalid_input")
    assert_error(await api.post("sql", body={"query": "SELECT 1", "max_rows": "all"}), 400)
    assert (await api.get("sessions")).json["total"] == 2


@on_jp_loop
async def test_response_cache_round_trip(api):
    assert_error(await api.get("cache", "answer-1"), 404, "not_found")
    reply = await api.call("PUT", "cache", "answer-1", body={"value": {"text": "42", "tokens": 3}})
    assert reply.code == 204
    reply = await api.get("cache", "answer-1")
    assert reply.code == 200 and reply.json == {"key": "answer-1", "value": {"text": "42", "tokens": 3}}
    assert_error(await api.call("PUT", "cache", "answer-1", body={"value": [1]}), 400)
