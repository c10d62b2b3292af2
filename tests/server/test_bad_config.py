"""Bad configuration never takes the core down (issue 19): with malformed remote endpoints and a
model folder that does not exist, the core starts (before: every /chat-ext route answered 503
"chat core did not start"); each bad part is skipped and reported in GET /health (``problems``),
in GET /models (``notes``) and in the log. ``model_dirs`` given as a JSON list on the command
line (one string, as remote_endpoints accepts it) is read as a list of folders."""

from __future__ import annotations

import pytest
from server_testlib import on_jp_loop

GOOD = {"name": "good", "base_url": "http://127.0.0.1:9/v1", "models": ["m"]}


@pytest.fixture
def chat_ext_overrides(tmp_path):
    return {
        "remote_endpoints": [
            GOOD,
            {"name": "ftp", "base_url": "ftp://x"},
            {"base_url": "http://x/v1"},
            {"name": "neg", "base_url": "http://x/v1", "timeout_s": -1},
            {"name": "badport", "base_url": "http://127.0.0.1:99999/v1", "models": ["m"]},
            GOOD,
            "not json at all",
        ],
        # what --ChatExtApp.model_dirs='["/nope", "<tmp>"]' gives: one string holding a JSON list
        "model_dirs": [f'["/nope-models", "{tmp_path}"]'],
    }


@on_jp_loop
async def test_bad_parts_are_reported_and_the_rest_starts(api, chat_app, tmp_path):
    assert [str(p) for p in chat_app.model_dirs] == ["/nope-models", str(tmp_path)]
    health = await api.get("health")
    assert health.code == 200, health.body
    problems = {(p["setting"], p["item"]) for p in health.json["problems"]}
    assert problems == {
        ("remote_endpoints", "ftp"),
        ("remote_endpoints", "#3"),
        ("remote_endpoints", "neg"),
        ("remote_endpoints", "badport"),
        ("remote_endpoints", "good"),  # the second one of that name
        ("remote_endpoints", "#7"),
        ("model_dirs", "/nope-models"),
    }
    models = await api.get("models")
    assert models.code == 200
    assert "good/m" in {m["id"] for m in models.json["models"]}
    assert {n["item"] for n in models.json["notes"]} >= {"badport", "/nope-models"}
    # the rest of the core works: sessions, store
    assert (await api.post("sessions", body={"title": "fine"})).code == 201
