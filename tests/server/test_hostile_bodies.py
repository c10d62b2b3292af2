"""Hostile bodies never reach the core: one JSON check (depth, lone surrogates), limits before reading.

Regression seeds from issue 13: a lone surrogate ``"\\ud800"`` gave 500 on 8 routes, JSON nested 50k
deep gave 500; from issue 12: a 200 MB POST was buffered whole before its 413.
"""

from __future__ import annotations

import asyncio
import json
import tempfile

import pytest
from server_testlib import assert_error, on_jp_loop
from tornado.tcpclient import TCPClient

LONE = "\ud800"


@pytest.fixture
def chat_ext_overrides():
    return {"max_body_bytes": 4096, "max_upload_bytes": 200_000}


async def _seed(api, chat_app) -> tuple[str, int]:
    """A session with one stored user message (written through the core, no model needed)."""
    sid = (await api.new_session(title="seed"))["id"]
    core = await chat_app.core()
    message = core.store.add_message(sid, "user", "hello")
    return sid, message["id"]


def _body(data: object) -> str:
    text = json.dumps(data)  # ensure_ascii: a lone surrogate travels as the escape \ud800
    assert "\\ud800" in text
    return text


@on_jp_loop
async def test_a_lone_surrogate_is_a_400_naming_the_field_on_every_route(api, chat_app):
    sid, mid = await _seed(api, chat_app)
    cases = [
        (("POST", "sessions", sid, "chat"), {"content": f"hi {LONE}"}, "content"),
        (
            ("POST", "v1", "chat", "completions"),
            {"messages": [{"role": "user", "content": LONE}]},
            "messages[0].content",
        ),
        (("POST", "v1", "embeddings"), {"input": ["fine", LONE]}, "input[1]"),
        (("POST", "sessions"), {"title": LONE}, "title"),
        (("PATCH", "sessions", sid), {"title": f"a{LONE}b"}, "title"),
        (("POST", "sessions"), {"system_prompt": LONE}, "system_prompt"),
        (("PUT", "cache", "k1"), {"value": {"answer": [LONE]}}, "value.answer[0]"),
        (("PATCH", "sessions", sid, "messages", str(mid)), {"content": LONE}, "content"),
        (("POST", "sql"), {"query": f"SELECT '{LONE}'"}, "query"),
        (("POST", "sessions", "import"), {"session": {"title": LONE}, "messages": []}, "session.title"),
        (("POST", "sessions"), {"params": {LONE: 1}}, "params"),
    ]
    for (method, *path), body, field in cases:
        reply = await api.call(method, *path, body=_body(body))
        assert reply.code == 400, (path, reply.code, reply.body[:300])
        err = reply.json["error"]
        assert field in err["message"] and "surrogate" in err["message"], (path, err)
    # nothing was written by any of them
    assert [s["title"] for s in (await api.get("sessions")).json["sessions"]] == ["seed"]
    messages = (await api.get("sessions", sid, "messages")).json["messages"]
    assert [m["content"] for m in messages] == ["hello"]
    assert_error(await api.get("cache", "k1"), 404)
    # a surrogate *pair* is a valid character and passes
    reply = await api.post("sessions", body=json.dumps({"title": "clef \U0001d11e"}))
    assert reply.code == 201 and reply.json["title"] == "clef \U0001d11e"


@on_jp_loop
async def test_invalid_utf8_bytes_are_a_400(api):
    reply = await api.post("sessions", body=b'{"title": "\xed\xa0\x80"}')  # an encoded surrogate
    err = assert_error(reply, 400, "invalid_input")
    assert "UTF-8" in err["message"]


@on_jp_loop
async def test_deep_json_is_a_400_not_a_500(api, chat_app):
    sid, _ = await _seed(api, chat_app)
    deep = '{"value": ' + "[" * 50_000 + "]" * 50_000 + "}"  # 100 kB: under the import limit
    err = assert_error(await api.post("sessions", "import", body=deep), 400, "invalid_input")
    assert "nested deeper than 64" in err["message"]
    # 65 levels fit in a small body: the walk finds them and names where
    nested: object = 1
    for _ in range(65):
        nested = {"x": nested}
    err = assert_error(await api.call("PUT", "cache", "deep", body=json.dumps({"value": nested})), 400)
    assert "value.x.x" in err["message"] and "64" in err["message"]
    err = assert_error(await api.post("sessions", sid, "chat", body="[" * 1500 + "]" * 1500), 400)
    assert "nested" in err["message"]
    # moderate nesting is fine
    ok: object = "leaf"
    for _ in range(20):
        ok = [ok]
    reply = await api.call("PUT", "cache", "ok", body=json.dumps({"value": {"v": ok}}))
    assert reply.code == 204, reply.body
    assert_error(await api.get("cache", "deep"), 404)


async def _raw_request(port: int, head: str, body_parts: list[bytes] = ()) -> tuple[int, bytes]:
    """Send a request by hand; return the status and the body of the answer."""
    stream = await TCPClient().connect("127.0.0.1", port)
    try:
        await stream.write(head.encode())
        for part in body_parts:
            if stream.closed():
                break
            try:
                await stream.write(part)
            except Exception:  # the server answered and closed: what we came for
                break
        raw = b""
        while b"\r\n\r\n" not in raw:
            raw += await asyncio.wait_for(stream.read_bytes(65536, partial=True), 30)
        header, _, rest = raw.partition(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        while length is not None and len(rest) < length:
            rest += await asyncio.wait_for(stream.read_bytes(65536, partial=True), 30)
        return status, rest
    finally:
        stream.close()


@on_jp_loop
async def test_an_oversized_body_is_refused_before_it_is_read(api, jp_http_port, jp_base_url):
    sid = (await api.new_session())["id"]
    head = (
        f"POST {jp_base_url}chat-ext/sessions/{sid}/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: token {api.token}\r\nContent-Type: application/json\r\n"
        f"Expect: 100-continue\r\nContent-Length: {200 * 1024 * 1024}\r\n\r\n"
    )
    # only the headers are sent (as curl does, waiting for "100 Continue"): the 413 comes back
    # without waiting for a byte of the 200 MB. A client that sends its body first gets the 413
    # after it, read and dropped (tests/faults/test_oversized_body.py, http.client)
    status, body = await _raw_request(jp_http_port, head)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"
    # a chunked body (no Content-Length) is counted as it arrives and cut off past the limit
    chunked = head.replace(
        f"Expect: 100-continue\r\nContent-Length: {200 * 1024 * 1024}", "Transfer-Encoding: chunked"
    )
    piece = b"x" * 1024
    # past the limit the rest is read and dropped; the 413 comes after the last chunk
    parts = [b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(64)] + [b"0\r\n\r\n"]
    status, body = await _raw_request(jp_http_port, chunked, parts)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"
    assert (await api.get("sessions", sid, "messages")).json["messages"] == []
    # a garbage Content-Length is a 400, not a 500
    bad = head.replace(f"Content-Length: {200 * 1024 * 1024}", "Content-Length: 12abc")
    status, _ = await _raw_request(jp_http_port, bad)
    assert status == 400


@on_jp_loop
async def test_uploads_stream_to_a_temp_file_that_is_removed(api, chat_app, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the server runs in this process
    core = await chat_app.core()
    if core.rag is None:
        pytest.skip(core.rag_error)
    assert (await api.post("collections", body={"name": "docs"})).code == 201
    big = b"word " * 50_000  # 250 kB: over the 200 kB upload limit
    assert_error(await api.post("collections", "docs", "upload", params={"filename": "a.txt"}, body=big), 413)
    small = b"lighthouse keeper " * 100
    reply = await api.post("collections", "docs", "upload", params={"filename": "a.txt"}, body=small)
    assert reply.code in (201, 202), reply.body
    assert not list(tmp_path.glob("chat-ext-upload-*"))  # the spooled body is gone after the answer
