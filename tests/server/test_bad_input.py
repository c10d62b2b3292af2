"""Bad input answers with a typed JSON error and a fitting status: never a 500, never a traceback."""

from __future__ import annotations

import asyncio
import json

import pytest
from server_testlib import assert_error, on_jp_loop
from tornado.tcpclient import TCPClient


@pytest.fixture
def chat_ext_overrides():
    return {
        "max_body_bytes": 4096,
        "max_upload_bytes": 8192,
        "max_content_chars": 500,
        "max_queue": 1,
        "max_batch_size": 1,
    }


@on_jp_loop
async def test_malformed_bodies_and_wrong_types(api):
    sid = (await api.new_session())["id"]
    assert_error(await api.post("sessions", body="{not json"), 400, "invalid_input")
    assert_error(await api.post("sessions", body="[1, 2]"), 400, "invalid_input")
    assert_error(await api.post("sessions", body=b"\xff\xfe"), 400, "invalid_input")
    assert_error(await api.post("sessions", body={"title": 5}), 400, "invalid_input")
    assert_error(await api.post("sessions", body={"params": "hot"}), 400, "invalid_input")
    assert_error(await api.post("sessions", body={"params": {"temperature": "hot"}}), 400)
    assert_error(await api.patch("sessions", sid, body={"pinned": "yes"}), 400, "invalid_input")
    assert_error(await api.patch("sessions", sid, body=""), 400, "invalid_input")
    assert_error(await api.post("sessions", sid, "chat", body={"content": 5}), 400, "invalid_input")
    assert_error(await api.post("sessions", sid, "chat", body={}), 400, "invalid_input")
    assert_error(await api.post("sessions", sid, "chat", body={"content": "hi", "rag": 3}), 400)
    assert_error(await api.get("sessions", params={"limit": "many"}), 400, "invalid_input")
    assert_error(await api.get("sessions", params={"limit": 0}), 400, "invalid_input")
    assert_error(await api.get("sessions", params={"offset": -1}), 400, "invalid_input")
    assert_error(await api.get("sessions", sid, "messages", params={"before": "x"}), 400)
    assert_error(await api.post("collections", body={"name": ["x"]}), 400)
    assert_error(await api.post("collections", "docs", "documents", body={"paths": "a.txt"}), 400)
    assert_error(await api.get("collections", "docs", "search"), 400)
    # the OpenAI routes answer in OpenAI's error shape
    reply = await api.post("v1", "chat", "completions", body="{oops")
    assert reply.code == 400
    assert (
        reply.json["error"]["type"] == "invalid_request_error"
        and reply.json["error"]["code"] == "invalid_input"
    )
    reply = await api.post(
        "v1", "chat", "completions", body={"messages": [{"role": "robot", "content": "x"}]}
    )
    assert reply.code == 400 and "role" in reply.json["error"]["message"]
    reply = await api.post("v1", "embeddings", body={"input": 42})
    assert reply.code == 400 and reply.json["error"]["type"] == "invalid_request_error"


@on_jp_loop
async def test_unknown_ids_and_methods(api):
    sid = (await api.new_session())["id"]
    unknown = "0" * 32
    assert_error(await api.get("sessions", unknown), 404, "not_found")
    assert_error(await api.patch("sessions", unknown, body={"title": "x"}), 404, "not_found")
    assert_error(await api.delete("sessions", unknown), 404, "not_found")
    assert_error(await api.get("sessions", unknown, "messages"), 404, "not_found")
    assert_error(await api.get("sessions", unknown, "export"), 404, "not_found")
    assert_error(await api.post("sessions", unknown, "regenerate", body={}), 404, "not_found")
    assert_error(await api.patch("sessions", sid, "messages", "999999", body={"content": "x"}), 404)
    assert_error(await api.delete("sessions", sid, "messages", "999999"), 404)
    assert_error(await api.get("models", "no-such-model"), 404, "model_not_found")
    assert_error(await api.post("models", "no-such-model", "load"), 404, "model_not_found")
    assert_error(await api.post("models", "no-such-model", "unload"), 404, "model_not_found")
    assert_error(await api.get("collections", "no-such-collection"), 404)
    assert_error(await api.get("jobs", "no-such-job"), 404)
    reply = await api.get("v1", "models", "no-such-model")
    assert reply.code == 404 and reply.json["error"]["type"] == "invalid_request_error"
    assert_error(await api.get("no", "such", "route"), 404, "not_found")
    assert_error(await api.post("sessions", sid, "frobnicate", body={}), 404, "not_found")
    assert_error(await api.delete("health"), 405)
    assert_error(await api.call("PUT", "sessions", body={}), 405)


@on_jp_loop
async def test_size_limits(api):
    sid = (await api.new_session())["id"]
    big = {"title": "x" * 5000}
    assert_error(await api.post("sessions", body=big), 413, "too_large")
    assert_error(await api.post("sessions", sid, "chat", body={"content": "y" * 501}), 413, "too_large")
    reply = await api.post(
        "v1", "chat", "completions", body={"messages": [{"role": "user", "content": "z" * 600}]}
    )
    assert reply.code == 413 and reply.json["error"]["code"] == "too_large"
    # session import has its own, larger limit: 6 kB passes the size check, 9 kB does not
    exported = json.loads((await api.get("sessions", sid, "export")).body)
    reply = await api.post("sessions", "import", body={**exported, "pad": "p" * 6000})
    assert reply.code == 201, reply.body
    assert_error(await api.post("sessions", "import", body={"pad": "q" * 9000}), 413, "too_large")
    assert (await api.get("sessions", sid, "messages")).json["messages"] == []


async def _hold_chat(api, port, base_url, sid) -> object:
    """Open a long chat on a raw socket and leave it running (the caller closes it)."""
    stream = await TCPClient().connect("127.0.0.1", port)
    payload = json.dumps(
        {"content": "Tell a long story.", "params": {"max_tokens": 300, "temperature": 0}}
    ).encode()
    head = (
        f"POST {base_url}chat-ext/sessions/{sid}/chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: token {api.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    await stream.write(head + payload)
    return stream


@on_jp_loop
async def test_a_full_queue_answers_429(api, chat_app, jp_http_port, jp_base_url):
    core = await chat_app.core()
    await asyncio.get_running_loop().run_in_executor(None, core.engine.load, "smollm2-135m-instruct")
    sids = [(await api.new_session())["id"] for _ in range(3)]
    running = await _hold_chat(api, jp_http_port, jp_base_url, sids[0])  # decoding (batch size 1)
    waiting = None
    try:
        for _ in range(300):
            stats = core.engine.stats()["smollm2-135m-instruct"]
            if stats["active"] == 1:
                break
            await asyncio.sleep(0.05)
        waiting = await _hold_chat(api, jp_http_port, jp_base_url, sids[1])  # fills the queue of 1
        for _ in range(300):
            if core.engine.stats()["smollm2-135m-instruct"]["queue_depth"] == 1:
                break
            await asyncio.sleep(0.05)
        stats = core.engine.stats()["smollm2-135m-instruct"]
        assert (stats["active"], stats["queue_depth"]) == (1, 1), stats
        refused = await api.chat(sids[2], "hello")
        err = assert_error(refused, 429, "busy")
        assert "queue" in err["message"]
        assert int(refused.headers["Retry-After"]) >= 1  # clients know when to try again
    finally:
        running.close()
        if waiting is not None:
            waiting.close()
