"""Requests the fuzzer found that once answered 500, replayed against a real server (kept as seeds).

Each was found by tests/fuzz/fuzzrun.py (schemathesis) and fixed; the answer must now be a clear
JSON error with a 4xx status.
"""

from __future__ import annotations

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
