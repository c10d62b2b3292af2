"""Inline completion follows the inline role: a request that names no model uses the model PUT /roles
chose (a second chat model here: the packaged GGUF linked into a model folder), not the chat default."""

from __future__ import annotations

import pytest
from server_testlib import on_jp_loop
from standin_hub import packaged_gguf

CHAT = "smollm2-135m-instruct"
SECOND = "second-smollm2"


@pytest.fixture
def chat_ext_overrides(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / f"{SECOND}.gguf").symlink_to(packaged_gguf())  # another id, the same weights: a real model
    return {"model_dirs": [str(folder)], "inline_budget_tokens": 128}


@on_jp_loop
async def test_inline_uses_the_inline_role(api):
    r = await api.call("PUT", "roles", body={"inline": SECOND})
    assert r.code == 200, r.text
    assert (r.json["chat"], r.json["effective"]["inline"]) == (CHAT, SECOND)
    body = {"prefix": "def add(a, b):\n    return", "language": "python", "max_lines": 1}
    r = await api.call("POST", "inline", body=body, stream=True, timeout=240)
    assert r.code == 200, r.text
    done = next(data for kind, data in r.events if kind == "done")
    assert done["metrics"]["model"] == SECOND
    # back to the default: null means "a pulled FIM code model, else the chat model"
    r = await api.call("PUT", "roles", body={"inline": None})
    assert r.json["inline"] is None and r.json["effective"]["inline"] == CHAT
