"""Completion routes on a real server with the packaged model (llama.cpp where it is installed).

/v1/completions through the official openai client, /chat-ext/inline (the editor's ghost text) and
/chat-ext/context/file (a file of the server root as chat context). Few tests, each doing several
checks on one server: every server start builds a core and loads the model.
"""

from __future__ import annotations

import asyncio
import json
import os

import httpx
import openai
import pytest
from server_testlib import assert_error, on_jp_loop

MODEL = "smollm2-135m-instruct"
CODE = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n"


@pytest.fixture
def chat_ext_overrides() -> dict[str, object]:
    return {"inline_budget_tokens": 128}  # a short prompt: this CPU evaluates it quickly


async def wait_until(check, timeout: float = 20.0) -> bool:
    """Poll ``check()`` (a state, not a speed: the deadline only keeps a broken build from hanging)."""
    for _ in range(int(timeout / 0.05)):
        if check():
            return True
        await asyncio.sleep(0.05)
    return check()


@on_jp_loop
async def test_openai_completions_stream_and_not_with_suffix(client, chat_app):
    resp = await client.completions.create(
        model=MODEL, prompt=CODE, suffix="\n\nprint(mul(2, 3))\n", max_tokens=8, temperature=0
    )
    assert resp.object == "text_completion" and resp.model == MODEL and resp.id.startswith("cmpl-")
    (choice,) = resp.choices
    assert isinstance(choice.text, str) and choice.text and choice.index == 0
    assert choice.finish_reason in ("stop", "length")
    assert 1 <= resp.usage.completion_tokens <= 8 and resp.usage.prompt_tokens > 10
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens

    stream = await client.completions.create(
        model=MODEL,
        prompt=CODE,
        suffix="\n\nprint(mul(2, 3))\n",
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert all(c.object == "text_completion" for c in chunks)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == choice.text  # greedy: the streamed and the collected answers agree
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == [choice.finish_reason]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == resp.usage.completion_tokens

    # what cannot be honoured is refused, in OpenAI's error shape, before any model work
    for bad in ({"echo": True}, {"n": 2}, {"best_of": 3}, {"logprobs": 2}):
        with pytest.raises(openai.BadRequestError) as err:
            await client.completions.create(model=MODEL, prompt="x", max_tokens=2, **bad)
        assert err.value.status_code == 400
        assert err.value.body["code"] == "unsupported" and err.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError):
        await client.completions.create(model=MODEL, prompt=[1, 2, 3], max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        await client.completions.create(model="no-such-model", prompt="x", max_tokens=2)


@on_jp_loop
async def test_closing_a_completion_stream_cancels_the_engine_request(client, chat_app):
    engine = (await chat_app.core()).engine
    before = engine.cancelled_requests
    stream = await client.completions.create(
        model=MODEL, prompt="Once upon a time", max_tokens=2000, temperature=0.8, seed=1, stream=True
    )
    got = 0
    async for _chunk in stream:
        got += 1
        if got == 3:
            break
    await stream.close()  # the client goes away mid-answer
    assert await wait_until(lambda: engine.cancelled_requests > before)
    assert await wait_until(lambda: engine.stats()[MODEL]["active"] == 0)  # the slot is free again


async def inline(base: str, token: str, body: dict, **kw) -> tuple[int, list[dict]]:
    """POST /inline; (status, SSE events) or (status, [error body])."""
    async with httpx.AsyncClient(timeout=120) as http:
        resp = await http.post(f"{base}/inline", json=body, headers={"Authorization": f"token {token}"})
    if resp.headers.get("content-type", "").startswith("application/json"):
        return resp.status_code, [resp.json()]
    events = []
    for frame in resp.text.split("\n\n"):
        data = [ln[6:] for ln in frame.split("\n") if ln.startswith("data: ")]
        if data:
            events.append(json.loads(data[0]))
    return resp.status_code, events


@on_jp_loop
async def test_inline_budget_max_lines_and_nothing_to_do(jp_serverapp, http_server, base, chat_app):
    token = jp_serverapp.identity_provider.token
    engine = (await chat_app.core()).engine

    # nothing to complete, or a language no text model serves: done at once, no model load
    for body in (
        {"prefix": "", "suffix": "", "language": "python"},
        {"prefix": "  \n", "language": "python"},
        {"prefix": "\x7fELF\x00\x01", "language": "python"},
        {"prefix": "abc", "language": "application/octet-stream"},
        {"prefix": "abc", "path": "picture.png"},
    ):
        status, events = await inline(base, token, body)
        assert status == 200 and len(events) == 1, events
        done = events[0]
        assert done["type"] == "done" and done["text"] == "" and done["reason"]
    assert engine.loaded_models() == []

    # a 40k-character prefix is trimmed from its far end to the budget; one line comes back
    big = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(1400))
    assert len(big) > 40_000
    status, events = await inline(
        base, token, {"prefix": big + "def g(x):\n", "suffix": "", "language": "python", "max_lines": 1}
    )
    assert status == 200, events
    *tokens, done = events
    assert done["type"] == "done" and all(e["type"] == "token" for e in tokens)
    assert "".join(e["text"] for e in tokens) == done["text"]  # streamed ghost text == final text
    metrics = done["metrics"]
    assert metrics["dropped_prefix_chars"] > 39_000 and 64 < metrics["prefix_tokens"] <= 128
    assert metrics["fim"] is False  # SmolLM2 has no FIM tokens: prefix continuation
    assert len([ln for ln in done["text"].split("\n") if ln.strip()]) <= 1

    status, events = await inline(
        base,
        token,
        {
            "prefix": "# numbers\nx1 = 1\nx2 = 2\nx3 = 3\n",
            "suffix": "",
            "language": "ipython",
            "max_lines": 2,
        },
    )
    done = events[-1]
    assert status == 200 and done["type"] == "done"
    assert len([ln for ln in done["text"].split("\n") if ln.strip()]) <= 2
    assert "```" not in done["text"]

    # malformed bodies are 400s naming the field; an unknown model a 404, before any stream
    for body, word in (({"prefix": 5}, "prefix"), ({"prefix": "x", "max_lines": 0}, "max_lines")):
        status, (err,) = await inline(base, token, body)
        assert status == 400 and word in err["error"]["message"]
    status, (err,) = await inline(base, token, {"prefix": "x = 1\n", "model": "no-such-model"})
    assert status == 404 and err["error"]["code"] == "model_not_found"

    # the editor types on: closing the stream cancels the engine request
    before = engine.cancelled_requests
    body = {"prefix": "# a long list\nitems = [\n", "language": "python", "max_lines": 50}
    async with httpx.AsyncClient(timeout=120) as http:
        headers = {"Authorization": f"token {token}"}
        async with http.stream("POST", f"{base}/inline", json=body, headers=headers) as resp:
            assert resp.status_code == 200
            async for line in resp.aiter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["type"] == "token":
                    break  # leave after the first ghost token
    assert await wait_until(lambda: engine.cancelled_requests > before)
    assert await wait_until(lambda: engine.stats()[MODEL]["active"] == 0)


@on_jp_loop
async def test_a_warm_request_caches_the_prompt_for_the_first_keystroke(
    jp_serverapp, http_server, base, chat_app
):
    """The provider warms when a cell gets the cursor; the request typed next evaluates only the
    new characters (the warmed prompt is the start of its own)."""
    token = jp_serverapp.identity_provider.token
    engine = (await chat_app.core()).engine
    prefix = "".join(f"def scale_{i}(xs):\n    return [x * {i} for x in xs]\n\n" for i in (7, 8, 9, 10))
    status, events = await inline(base, token, {"prefix": prefix, "language": "python", "warm": True})
    assert status == 200 and len(events) == 1, events
    (done,) = events
    assert (done["type"], done["text"], done["finish_reason"]) == ("done", "", "warm")
    warmed = done["metrics"]["prompt_tokens"]
    assert warmed == done["metrics"]["prefix_tokens"] > 50
    reused = engine.stats()[MODEL]["tokens_reused"]
    status, events = await inline(base, token, {"prefix": prefix + "def scale_11(", "max_lines": 1})
    done = events[-1]
    assert status == 200 and done["type"] == "done" and done["finish_reason"] != "warm"
    assert done["metrics"]["prefix_tokens"] > warmed
    # all the warmed prompt but the re-tokenized seam came from the cache
    assert engine.stats()[MODEL]["tokens_reused"] - reused >= warmed - 2
    status, (err,) = await inline(base, token, {"prefix": prefix, "warm": "yes"})
    assert status == 400 and "warm" in err["error"]["message"]


@on_jp_loop
async def test_chat_body_context_is_stored_with_the_message(api):
    session = await api.new_session()
    items = [{"kind": "file", "label": "notes.md", "text": "The launch code is 1234."}]
    reply = await api.chat(session["id"], "What is the code?", params={"max_tokens": 2}, context=items)
    assert reply.code == 200, reply.body
    user = (await api.get("sessions", session["id"], "messages")).json["messages"][0]
    assert user["content"] == "What is the code?" and user["metadata"]["context"] == items
    bad = await api.post(
        "sessions",
        session["id"],
        "chat",
        body={"content": "q", "context": [{"kind": "url", "label": "x", "text": ""}]},
    )
    assert_error(bad, 400)
    assert (
        len((await api.get("sessions", session["id"], "messages")).json["messages"]) == 2
    )  # nothing written


@on_jp_loop
async def test_context_file_confined_to_the_root(api, jp_root_dir, tmp_path):
    (jp_root_dir / "sub").mkdir()
    (jp_root_dir / "sub" / "ünï cødé #1.py").write_text("print('héllo')\n" * 100, encoding="utf-8")
    (jp_root_dir / "blob.bin").write_bytes(bytes(range(256)) * 10)
    (jp_root_dir / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    outside = tmp_path / "secret.txt"
    outside.write_text("top secret")
    os.symlink(outside, jp_root_dir / "link.txt")

    reply = await api.post("context/file", body={"path": "sub/ünï cødé #1.py", "max_chars": 50})
    assert reply.code == 200, reply.body
    data = reply.json
    assert data["path"] == "sub/ünï cødé #1.py" and data["truncated"] is True
    assert len(data["text"]) == 50 and data["chars"] > 1000 and "héllo" in data["text"]
    whole = (await api.post("context/file", body={"path": "./sub/../sub/ünï cødé #1.py"})).json
    assert whole["truncated"] is False and whole["chars"] == len(whole["text"])

    for path in ("../secret.txt", str(outside), "link.txt", "/etc/passwd"):
        assert_error(await api.post("context/file", body={"path": path}), 403, "path_outside_root")
    assert_error(await api.post("context/file", body={"path": "nope.md"}), 404)
    assert_error(await api.post("context/file", body={"path": "blob.bin"}), 415, "unsupported_file_type")
    assert_error(await api.post("context/file", body={"path": "broken.pdf"}), 422, "unreadable_file")
    assert_error(await api.post("context/file", body={"path": "sub"}), 422, "not_a_file")
    for body in ({}, {"path": ""}, {"path": "a\x00b"}, {"path": "x.py", "max_chars": 0}, {"path": 3}):
        assert_error(await api.post("context/file", body=body), 400)
    assert_error(await api.post("context/file", body={"path": "a" * 5000 + ".txt"}), 400)
