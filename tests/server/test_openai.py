"""The official openai client (async) against the /chat-ext/v1 routes of a real server."""

from __future__ import annotations

import base64
import subprocess
import sys

import httpx
import numpy as np
import openai
import pytest
from openai.types import Completion
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.shared import ErrorObject
from server_testlib import on_jp_loop

from jupyter_chat_ext.wire.openai import V1CompletionChunk, V1Embeddings, V1Model, V1ModelList

MODEL = "smollm2-135m-instruct"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name three colours."},
]


def test_the_openai_package_loads_with_the_first_v1_request_not_with_jupyter():
    """Its types take ~0.35 s to import (three times the extension's own import): the /v1 shapes
    are declared with ``Later``, imported by the first /v1 request or the document's build."""
    code = (
        "import sys, jupyter_chat_ext.server.routes as r; r.build_handlers();"
        "print('openai' in sys.modules);"
        "from jupyter_chat_ext.server.handlers_openai import V1ChatCompletionsHandler as H;"
        "from jupyter_chat_ext.wire.ops import wire_op;"
        "print(wire_op(H.post).body.__name__, 'openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "V1ChatRequest", "True"]


@on_jp_loop
async def test_models_list_and_retrieve(client):
    models = await client.models.list()
    ids = [m.id for m in models.data]
    assert MODEL in ids and "all-minilm-l6-v2" in ids
    model = await client.models.retrieve(MODEL)
    assert model.id == MODEL and model.object == "model"


@on_jp_loop
async def test_chat_completion_non_stream(client):
    resp = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=10, temperature=0, seed=3
    )
    assert resp.object == "chat.completion" and resp.model == MODEL
    choice = resp.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert resp.usage.completion_tokens <= 10 and resp.usage.prompt_tokens > 10
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens

    again = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_completion_tokens=10, temperature=0.8, top_p=0.9, seed=11
    )
    same = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_completion_tokens=10, temperature=0.8, top_p=0.9, seed=11
    )
    assert again.choices[0].message.content == same.choices[0].message.content  # seeded: reproducible

    capped = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=2, temperature=0)
    assert capped.choices[0].finish_reason == "length" and capped.usage.completion_tokens == 2


@on_jp_loop
async def test_chat_completion_stream_with_usage(client):
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish in (["stop"], ["length"])
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens >= 1
    assert all(c.usage is None for c in chunks[:-1])

    whole = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=12, temperature=0)
    assert whole.choices[0].message.content == text  # streamed and collected answers agree


@on_jp_loop
async def test_stop_sequences_end_the_answer(client):
    free = await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=24, temperature=0)
    text = free.choices[0].message.content
    word = next(w for w in text.split() if len(w) > 2 and text.index(w) > 0)
    stopped = await client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=24, temperature=0, stop=[word]
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert word not in stopped.choices[0].message.content
    assert text.startswith(stopped.choices[0].message.content.rstrip())


@on_jp_loop
async def test_embeddings_float_and_base64(client, jp_fetch):
    texts = ["a cat sits on the mat", "a kitten rests on a rug", "quarterly tax filing deadlines"]
    resp = await client.embeddings.create(model="all-minilm-l6-v2", input=texts)  # the client asks for base64
    vectors = np.array([d.embedding for d in resp.data])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2]
    assert resp.usage.prompt_tokens >= sum(len(t.split()) for t in texts)

    floats = await client.embeddings.create(model="all-minilm-l6-v2", input=texts[0], encoding_format="float")
    assert np.allclose(floats.data[0].embedding, vectors[0], atol=1e-5)

    raw = await client.with_raw_response.embeddings.create(
        model="all-minilm-l6-v2", input=[texts[0]], encoding_format="base64"
    )
    payload = raw.http_response.json()["data"][0]["embedding"]
    decoded = np.frombuffer(base64.b64decode(payload), dtype="<f4")
    assert np.allclose(decoded, vectors[0], atol=1e-5)


@on_jp_loop
async def test_errors_have_the_openai_shape(client):
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    assert info.value.body["type"] == "invalid_request_error" and info.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model=MODEL, messages=[])
    assert info.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=5)
    with pytest.raises(openai.BadRequestError) as info:  # a wrong type: the door names the field
        await client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature="hot")
    assert info.value.body["type"] == "invalid_request_error" and "temperature" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError) as info:  # asked for and not honoured: refused, not ignored
        await client.chat.completions.create(model=MODEL, messages=MESSAGES, logprobs=True)
    assert info.value.body["code"] == "unsupported" and "logprobs" in info.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="all-minilm-l6-v2", input=[[1, 2, 3]])
    bad = openai.AsyncOpenAI(base_url=str(client.base_url), api_key="wrong", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        await bad.models.list()


def sse_data(text: str) -> list[str]:
    return [line[6:] for line in text.splitlines() if line.startswith("data: ")]


@on_jp_loop
async def test_raw_answers_validate_as_openais_models(jp_serverapp, http_server, base):
    """The handlers build dicts; each answer, read as raw JSON, must validate as the openai
    package's own model (the client's parser does not validate), and fields clients send that
    we do not read (user, metadata, store, n=1, logprobs false, vendor extras) are accepted."""
    headers = {"Authorization": f"token {jp_serverapp.identity_provider.token}"}
    extras = {
        "user": "someone",
        "metadata": {"team": "a"},
        "store": False,
        "n": 1,
        "logprobs": False,
        "parallel_tool_calls": True,
        "frequency_penalty": 0.5,
        "service_tier": "auto",
        "some_vendor_field": {"x": [1, 2]},
    }
    async with httpx.AsyncClient(base_url=f"{base}/v1", headers=headers, timeout=120) as http:
        models = V1ModelList.model_validate((await http.get("/models")).json())
        assert MODEL in [m.id for m in models.data]
        assert V1Model.model_validate((await http.get(f"/models/{MODEL}")).json()).object == "model"

        body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 4, "temperature": 0, **extras}
        reply = await http.post("/chat/completions", json=body)
        assert reply.status_code == 200, reply.text
        whole = ChatCompletion.model_validate(reply.json())
        assert whole.choices[0].message.content

        stream = {**body, "stream": True, "stream_options": {"include_usage": True}}
        reply = await http.post("/chat/completions", json=stream)
        assert reply.status_code == 200, reply.text
        *chunks, done = sse_data(reply.text)
        assert done == "[DONE]"
        parsed = [ChatCompletionChunk.model_validate_json(c) for c in chunks]
        assert "".join(c.choices[0].delta.content or "" for c in parsed if c.choices) == (
            whole.choices[0].message.content
        )
        assert parsed[-1].usage is not None and parsed[-1].usage.completion_tokens >= 1

        legacy = {"model": MODEL, "prompt": "def f(x):", "max_tokens": 3, "temperature": 0, "user": "u"}
        reply = await http.post("/completions", json=legacy)
        assert reply.status_code == 200, reply.text
        assert Completion.model_validate(reply.json()).choices[0].text is not None
        reply = await http.post("/completions", json={**legacy, "stream": True})
        *chunks, done = sse_data(reply.text)
        assert done == "[DONE]" and all(V1CompletionChunk.model_validate_json(c) for c in chunks)

        for fmt in ("float", "base64"):
            emb = {"model": "all-minilm-l6-v2", "input": ["a cat"], "encoding_format": fmt, "user": "u"}
            reply = await http.post("/embeddings", json=emb)
            assert reply.status_code == 200, reply.text
            assert len(V1Embeddings.model_validate(reply.json()).data) == 1

        reply = await http.post("/chat/completions", json={"messages": MESSAGES, "temperature": "hot"})
        assert reply.status_code == 400
        error = ErrorObject.model_validate(reply.json()["error"])
        assert "temperature" in error.message and error.type == "invalid_request_error"
