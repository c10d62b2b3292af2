"""The official openai client (async) against the /chat-ext/v1 routes of a real server."""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest
from server_testlib import on_jp_loop

MODEL = "smollm2-135m-instruct"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Name three colours."},
]


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
    with pytest.raises(openai.BadRequestError):
        await client.embeddings.create(model="all-minilm-l6-v2", input=[[1, 2, 3]])
    bad = openai.AsyncOpenAI(base_url=str(client.base_url), api_key="wrong", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        await bad.models.list()
