"""An oversized body gets a 413 that Python's http.client can read (issue 19): it sends its whole
body before it reads the answer, as a browser's fetch does. Refused at once from its
Content-Length, the 64 MB POST used to end in a connection reset for them (only curl, which waits
for "100 Continue", saw the 413); now the body is read and dropped, then the 413 goes out."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from chatproc import TOKEN, ChatServer

MB = 1024 * 1024


def post(server: ChatServer, path: str, body: bytes | Iterator[bytes], **headers: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        conn.request(
            "POST",
            f"/chat-ext/{path}",
            body=body,
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json", **headers},
            encode_chunked=not isinstance(body, bytes),
        )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


@pytest.mark.timeout(300)
def test_http_client_reads_the_413_of_a_64_mb_body(servers, tmp_path):
    server: ChatServer = servers.new(tmp_path / "srv", extra=("--ChatExtApp.preload_default_model=False",))
    server.start()
    sid = server.new_session()
    status, body = post(server, f"sessions/{sid}/chat", b"x" * (64 * MB))
    assert status == 413, body
    assert body["error"]["code"] == "too_large"
    # the same without a Content-Length (chunked): counted as it arrives, the rest dropped
    chunks = (b"y" * MB for _ in range(8))
    status, body = post(server, f"sessions/{sid}/chat", chunks)
    assert status == 413 and body["error"]["code"] == "too_large", body
    # nothing was written, and the server answers the next request on a fresh connection
    assert server.messages(sid) == []
    status, body = post(server, "sessions", json.dumps({"title": "after"}).encode())
    assert status == 201, body
