"""Requests the fuzzer found that once answered 500, replayed against a real server (kept as seeds).

Each was found by tests/fuzz/fuzzrun.py (schemathesis) and fixed; the answer must now be a clear
JSON error with a 4xx status.
"""

from __future__ import annotations

import httpx
import pytest

SEEDS = [
    pytest.param(
        "v1/chat/completions",
        {"model": "", "messages": [{"role": {}, "content": None}], "max_tokens": 1, "tools": [None, None]},
        400,
        id="v1-chat-unhashable-role-object",
    ),
    pytest.param(
        "v1/chat/completions",
        {"messages": [{"role": [None, None], "content": None}], "max_tokens": 1},
        400,
        id="v1-chat-unhashable-role-list",
    ),
]


@pytest.mark.parametrize(("path", "body", "status"), SEEDS)
def test_seed_answers_a_clear_4xx(plain_server, path, body, status):
    reply = plain_server.post(path, body)
    assert reply.status_code == status, reply.text
    assert "Traceback" not in reply.text
    assert reply.json()["error"]["message"]


def test_seed_ingest_path_longer_than_the_file_system_allows(plain_server):
    """A 5,000-character path made os.stat raise ENAMETOOLONG inside the ingest: 500 before."""
    name = "seed-long-path"
    assert plain_server.post("collections", {"name": name}).status_code == 201
    reply = plain_server.post(f"collections/{name}/documents", {"paths": ["0" * 4096]})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_input"
    assert plain_server.get("jobs").status_code == 200


HUGE = "1" + "0" * 309  # 10**309: past a float's range; math.isfinite raised OverflowError (500)


@pytest.mark.parametrize(
    "field", ["temperature", "top_p", "repetition_penalty", "top_k", "max_tokens", "seed"]
)
@pytest.mark.parametrize("literal", [HUGE, "-" + HUGE, "NaN", "Infinity", "-Infinity", "true"])
def test_seed_a_number_out_of_range_is_a_400_naming_the_field(plain_server, field, literal):
    """Each door that takes generation options: sessions create/patch, chat, regenerate and /v1
    (the body is raw text: NaN/Infinity are not JSON, Python's parser took them). /continue
    checks its message first (404 here) and its options with the same code as regenerate."""
    sid = plain_server.post("sessions", {}).json()["id"]
    doors = [
        ("POST", "sessions", '{"params": {"%s": %s}}'),
        ("PATCH", f"sessions/{sid}", '{"params": {"%s": %s}}'),
        ("POST", f"sessions/{sid}/chat", '{"content": "hi", "params": {"%s": %s}}'),
        ("POST", f"sessions/{sid}/regenerate", '{"params": {"%s": %s}}'),
    ]
    if field != "repetition_penalty":  # not an OpenAI field
        doors.append(
            ("POST", "v1/chat/completions", '{"messages": [{"role": "user", "content": "hi"}], "%s": %s}')
        )
    for method, path, template in doors:
        reply = httpx.request(
            method,
            plain_server.url(path),
            headers={**plain_server.headers, "Content-Type": "application/json"},
            content=template % (field, literal),
            timeout=60,
        )
        assert reply.status_code == 400, (method, path, reply.status_code, reply.text[:300])
        message = reply.json()["error"]["message"]
        assert field in message or "max_tokens" in message, (path, message)
    assert plain_server.messages(sid) == []
