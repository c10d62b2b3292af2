"""Tool calls and structured output through /chat-ext/v1 with the official openai client.

The packaged 135M model on the llama.cpp backend, grammar-constrained: over 20 seeds at temperature
0.8 every tool call's arguments and every json_schema answer parse and validate (jsonschema).
Requests of one test run together, so the decode loop batches them (the file stays well under 60 s).
"""

from __future__ import annotations

import asyncio
import json

import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletionMessageFunctionToolCall
from server_testlib import on_jp_loop

MODEL = "smollm2-135m-instruct"
SEEDS = range(20)

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 40},
        "unit": {"enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
ADD = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER},
    },
    {"type": "function", "function": {"name": "add", "description": "Add two integers", "parameters": ADD}},
]
PARAMS = {"get_weather": WEATHER, "add": ADD}
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 30},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "languages": {"type": "array", "items": {"enum": ["python", "rust", "c"]}, "maxItems": 3},
    },
    "required": ["name", "age", "languages"],
}
ASK = [{"role": "user", "content": "What is the weather in Paris, in celsius?"}]


@pytest.fixture
def chat_ext_overrides() -> dict[str, object]:
    # one llama.cpp thread: two threads spin against each other when the machine is busy (CI runs
    # several servers at once); the grammar is what this file tests, not the thread count
    return {"backend": "llamacpp", "n_threads": 1}


@on_jp_loop
async def test_required_tool_calls_validate_over_20_seeds(client):
    async def one(seed: int):
        return await client.chat.completions.create(
            model=MODEL,
            messages=ASK,
            tools=TOOLS,
            tool_choice="required",
            temperature=0.8,
            seed=seed,
            max_tokens=48,
        )

    answers = await asyncio.gather(*(one(s) for s in SEEDS))
    for resp in answers:
        choice = resp.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        assert not choice.message.content  # the call is not text
        (call,) = choice.message.tool_calls
        assert call.type == "function" and call.id.startswith("call_")
        jsonschema.validate(json.loads(call.function.arguments), PARAMS[call.function.name])
    # seeded: the same seed gives the same call
    again = await one(SEEDS[3])
    assert (
        again.choices[0].message.tool_calls[0].function
        == answers[3].choices[0].message.tool_calls[0].function
    )


@on_jp_loop
async def test_json_schema_answers_validate_over_20_seeds(client):
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    messages = [{"role": "user", "content": "Describe a programmer as JSON."}]
    answers = await asyncio.gather(
        *(
            client.chat.completions.create(
                model=MODEL, messages=messages, response_format=fmt, temperature=0.8, seed=s, max_tokens=48
            )
            for s in SEEDS
        )
    )
    for resp in answers:
        assert resp.choices[0].finish_reason == "stop"
        jsonschema.validate(json.loads(resp.choices[0].message.content), PERSON)

    obj = await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Reply with a JSON object whose key 'colour' names a colour."}],
        response_format={"type": "json_object"},
        temperature=0,
        max_tokens=24,
    )
    assert obj.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(obj.choices[0].message.content), dict)


@on_jp_loop
async def test_streamed_named_call_and_a_tool_result_turn(client):
    named = {"type": "function", "function": {"name": "add"}}
    ask = {"model": MODEL, "messages": [{"role": "user", "content": "Add 2 and 3."}], "tools": TOOLS}
    ask.update(tool_choice=named, temperature=0, max_tokens=32)
    stream = await client.chat.completions.create(**ask, stream=True)
    content, deltas, finish = "", [], None
    async for chunk in stream:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            deltas += choice.delta.tool_calls or []
            finish = choice.finish_reason or finish
    assert content == "" and finish == "tool_calls"  # no token of the call's JSON reached the text
    # OpenAI's stream shape: id, type and name first, then the arguments in pieces as generated
    head, *pieces = deltas
    assert head.index == 0 and head.id.startswith("call_") and head.type == "function"
    assert head.function.name == "add" and head.function.arguments == ""
    assert len(pieces) >= 2 and all(p.index == 0 and p.id is None for p in pieces)
    arguments = "".join(p.function.arguments for p in pieces)
    args = json.loads(arguments)
    jsonschema.validate(args, ADD)
    call = ChatCompletionMessageFunctionToolCall(
        id=head.id, type="function", function={"name": "add", "arguments": arguments}
    )

    # the same request unstreamed: the same call, character for character (but its new id)
    whole = await client.chat.completions.create(**ask)
    assert whole.choices[0].message.tool_calls[0].function == call.function

    # the call and its result go back as history (OpenAI shapes); the model answers in text
    follow = await client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "Add 2 and 3."},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": str(args["a"] + args["b"])},
        ],
        tools=TOOLS,
        tool_choice="none",
        temperature=0,
        max_tokens=12,
    )
    assert follow.choices[0].finish_reason in ("stop", "length") and follow.choices[0].message.content
    assert not follow.choices[0].message.tool_calls


@on_jp_loop
async def test_bad_schemas_and_tool_choices_are_400(client):
    bad = [
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "nope"}},
                }
            },
            "invalid_schema",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 3}}}]},
            "invalid_schema",
        ),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "invalid_tool_choice",
        ),
        ({"tool_choice": "required"}, "invalid_tool_choice"),
        ({"response_format": {"type": "xml"}}, "invalid_value"),
    ]
    for extra, code in bad:
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model=MODEL, messages=ASK, max_tokens=4, **extra)
        assert info.value.body["code"] == code, (extra, info.value.body)
    # a tool message must name the call it answers
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model=MODEL, messages=[*ASK, {"role": "tool", "content": "12"}], max_tokens=4
        )


def _call(i: int, a: int, b: int) -> dict:
    args = json.dumps({"a": a, "b": b})
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": f"call_{i}", "type": "function", "function": {"name": "add", "arguments": args}}
        ],
    }


@on_jp_loop
async def test_auto_mode_streams_the_call_as_it_is_written(client):
    # the way agent clients (jupyter-ai) ask: tools, tool_choice auto, stream; a few-shot history
    # in which the 135M model then calls add(7, 8) by itself
    history = [
        {"role": "user", "content": "Add 4 and 5."},
        _call(1, 4, 5),
        {"role": "tool", "tool_call_id": "call_1", "content": "9"},
        {"role": "user", "content": "Add 2 and 6."},
        _call(2, 2, 6),
        {"role": "tool", "tool_call_id": "call_2", "content": "8"},
        {"role": "user", "content": "Add 7 and 8."},
    ]
    ask = {"model": MODEL, "messages": history, "tools": TOOLS, "temperature": 0, "max_tokens": 40}
    stream = await client.chat.completions.create(**ask, stream=True)
    frames, finish = [], None
    async for chunk in stream:
        for choice in chunk.choices:
            assert not choice.delta.content or "{" not in choice.delta.content  # no JSON as text
            if choice.delta.tool_calls:
                frames.append(choice.delta.tool_calls)
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert len(frames) >= 3 and all(len(f) == 1 for f in frames)  # name, then argument pieces
    head, *pieces = [f[0] for f in frames]
    assert head.function.name == "add" and head.id.startswith("call_")
    arguments = "".join(p.function.arguments for p in pieces)
    assert json.loads(arguments) == {"a": 7, "b": 8}

    whole = await client.chat.completions.create(**ask)
    (call,) = whole.choices[0].message.tool_calls
    assert whole.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "add" and call.function.arguments == arguments
