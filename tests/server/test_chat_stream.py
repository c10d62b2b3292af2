"""Chat and regenerate as Server-Sent Events, client disconnects, and a loop that stays free."""

from __future__ import annotations

import asyncio
import json

from server_testlib import assert_error, on_jp_loop, parse_sse
from tornado.tcpclient import TCPClient


@on_jp_loop
async def test_chat_streams_events_one_by_one(api):
    sid = (await api.new_session())["id"]
    reply = await api.chat(sid, "Count from one to five.", params={"max_tokens": 16, "temperature": 0})
    assert reply.code == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    assert reply.headers["Cache-Control"] == "no-cache"
    # flushed per token: the body arrived in several pieces, the first without the end of the turn
    assert len(reply.chunks) > 2
    assert b"event: done" not in reply.chunks[0]

    events = reply.events
    kinds = [k for k, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"}
    for kind, data in events:
        assert data["type"] == kind
    start, done = events[0][1], events[-1][1]
    assert start["session_id"] == sid and start["model"] == "smollm2-135m-instruct"
    assert done["message_id"] == start["assistant_message_id"]
    assert done["user_message_id"] == start["user_message_id"]
    assert done["status"] == "complete" and done["finish_reason"] in ("stop", "length")
    text = "".join(d["text"] for k, d in events if k == "token")
    assert text == done["text"] and text.strip()
    metrics = done["metrics"]
    assert 1 <= metrics["completion_tokens"] <= 16
    assert metrics["ttft_s"] > 0 and metrics["tokens_per_s"] > 0

    stored = (await api.get("sessions", sid, "messages")).json["messages"]
    assert [(m["role"], m["content"]) for m in stored] == [
        ("user", "Count from one to five."),
        ("assistant", text),
    ]
    assert stored[1]["metrics"]["finish_reason"] == done["finish_reason"]


@on_jp_loop
async def test_seeded_chats_repeat_and_regenerate_adds_a_version(api):
    sid = (await api.new_session())["id"]
    params = {"max_tokens": 12, "temperature": 0.9, "seed": 7}
    first = next(d for k, d in (await api.chat(sid, "Invent a name", params=params)).events if k == "done")
    reply = await api.post("sessions", sid, "regenerate", body={"params": params}, stream=True)
    assert reply.code == 200
    again = next(d for k, d in reply.events if k == "done")
    assert again["message_id"] != first["message_id"]
    assert again["user_message_id"] == first["user_message_id"]
    assert again["text"] == first["text"]  # same seed, same prompt, same answer
    stored = (await api.get("sessions", sid, "messages")).json["messages"]
    # the earlier answer stays as a version of this turn (same parent_id); the newest is current
    assert [m["id"] for m in stored] == [first["user_message_id"], first["message_id"], again["message_id"]]
    assert stored[1]["parent_id"] == stored[2]["parent_id"] == first["user_message_id"]

    empty = (await api.new_session())["id"]
    assert_error(await api.post("sessions", empty, "regenerate", body={}), 409)


@on_jp_loop
async def test_errors_before_the_stream_are_json(api):
    assert_error(await api.chat("f" * 32, "hi"), 404, "not_found")
    sid = (await api.new_session())["id"]
    assert_error(await api.post("sessions", sid, "chat", body={"content": ""}), 400)
    assert_error(
        await api.post("sessions", sid, "chat", body={"content": "hi", "params": {"temperature": -1}}), 400
    )
    assert_error(
        await api.post("sessions", sid, "chat", body={"content": "hi", "rag": {"collection": "nope"}}), 404
    )
    # a prompt longer than the model's context (8k tokens) is refused before anything runs
    err = assert_error(await api.chat(sid, "lighthouse " * 10_000), 413)
    assert "context" in err["message"] or "prompt" in err["message"]
    # nothing was stored for refused requests
    assert (await api.get("sessions", sid, "messages")).json["messages"] == []


async def _open_chat(port: int, base_url: str, token: str, sid: str, body: dict) -> tuple:
    stream = await TCPClient().connect("127.0.0.1", port)
    payload = json.dumps(body).encode()
    head = (
        f"POST {base_url}chat-ext/sessions/{sid}/chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: token {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    await stream.write(head + payload)
    received = b""
    while received.count(b"event: token") < 3:
        received += await asyncio.wait_for(stream.read_bytes(65536, partial=True), 120)
    return stream, received


@on_jp_loop
async def test_client_disconnect_cancels_and_stores_the_partial_answer(
    api, chat_app, jp_http_port, jp_base_url
):
    sid = (await api.new_session())["id"]
    stream, received = await _open_chat(
        jp_http_port,
        jp_base_url,
        api.token,
        sid,
        {
            "content": "Tell a very long story about a dragon.",
            "params": {"max_tokens": 400, "temperature": 0},
        },
    )
    stream.close()  # the client goes away mid-answer
    body = received.split(b"\r\n\r\n", 1)[1].decode()
    seen = [d["text"] for k, d in parse_sse(body.rsplit("\n\n", 1)[0] + "\n\n") if k == "token"]

    answer = None
    for _ in range(300):
        messages = (await api.get("sessions", sid, "messages")).json["messages"]
        if len(messages) == 2 and messages[1]["metrics"] is not None:
            answer = messages[1]
            break
        await asyncio.sleep(0.1)
    assert answer is not None, "the interrupted answer was not stored"
    assert answer["status"] == "interrupted"
    assert answer["content"].startswith("".join(seen))
    assert answer["metrics"]["finish_reason"] == "cancelled"
    assert answer["metrics"]["completion_tokens"] < 400
    core = await chat_app.core()
    for _ in range(100):  # the decode thread drops the request at its next step
        stats = core.engine.stats()["smollm2-135m-instruct"]
        if stats["active"] == 0:
            break
        await asyncio.sleep(0.05)
    assert stats["active"] == 0 and stats["queue_depth"] == 0, stats  # the engine stopped decoding it

    # Continue: the same message grows and completes (SSE, like regenerate)
    mid = str(answer["id"])
    reply = await api.post(
        "sessions", sid, "messages", mid, "continue", body={"params": {"max_tokens": 8}}, stream=True
    )
    assert reply.code == 200, reply.body[:500]
    start, done = reply.events[0][1], reply.events[-1][1]
    assert start["type"] == "start" and start["assistant_message_id"] == answer["id"]
    assert done["type"] == "done" and done["message_id"] == answer["id"]
    assert done["text"].startswith(answer["content"]) and len(done["text"]) > len(answer["content"])
    messages = (await api.get("sessions", sid, "messages")).json["messages"]
    assert len(messages) == 2 and messages[1]["status"] == "complete"
    assert messages[1]["content"] == done["text"]
    again = await api.post("sessions", sid, "messages", mid, "continue", body={})
    assert_error(again, 409, "not_interrupted")
    other = (await api.new_session())["id"]
    assert_error(await api.post("sessions", other, "messages", mid, "continue", body={}), 404)


@on_jp_loop
async def test_jupyter_stays_responsive_while_four_chats_stream(api, jp_fetch):
    sids = [(await api.new_session())["id"] for _ in range(4)]
    # warm the model so the streams below are decoding, not loading
    assert (await api.chat(sids[0], "hi", params={"max_tokens": 2})).code == 200
    chats = [
        asyncio.ensure_future(
            api.chat(sid, f"Write a poem number {i}", params={"max_tokens": 48, "temperature": 0})
        )
        for i, sid in enumerate(sids)
    ]
    statuses = []
    while not all(c.done() for c in chats):
        resp = await jp_fetch("api", "status")
        statuses.append(resp.code)
        await asyncio.sleep(0.05)
    replies = await asyncio.gather(*chats)
    assert all(r.code == 200 and r.events[-1][0] == "done" for r in replies)
    assert len(statuses) >= 3 and set(statuses) == {200}


@on_jp_loop
async def test_streams_turn_nagle_off_so_each_event_leaves_at_once(api, monkeypatch):
    """Every event is a small write after another: with Nagle's algorithm the kernel would hold
    each until the client's (delayed, up to 40 ms) ACK of the last. The stream's socket has
    TCP_NODELAY from its start (tornado only sets it at finish)."""
    import socket

    from jupyter_chat_ext.server.streaming import StreamingHandler

    seen: list[int] = []
    original = StreamingHandler.begin_stream

    def spy(self: StreamingHandler, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)
        sock = self.request.connection.stream.socket
        seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    monkeypatch.setattr(StreamingHandler, "begin_stream", spy)
    sid = (await api.new_session())["id"]
    reply = await api.chat(sid, "Say hi.", params={"max_tokens": 4, "temperature": 0})
    assert reply.code == 200 and reply.events[-1][0] == "done"
    assert len(seen) == 1 and seen[0] != 0
