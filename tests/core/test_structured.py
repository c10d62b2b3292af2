"""Structured output and tool calls in the engine, on both local backends, with the packaged model.

llama.cpp (fast) carries the seeds and the modes; the transformers backend checks that its batcher
masks logits the same way (one JSON answer, one call). Bad schemas and tool choices are 400s before
any model work; tool messages render into a template that knows no tools.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Iterator

import jsonschema
import pytest

from jupyter_chat_ext.engine.engine import Engine, check_messages
from jupyter_chat_ext.engine.grammar import closed
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.engine.structured import TOOL_MARKER, Structured
from jupyter_chat_ext.engine.structured_prompt import prompt_messages
from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.settings import Settings

ADD = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
}
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
}
TOOLS = [
    {"type": "function", "function": {"name": "add", "description": "Add two integers", "parameters": ADD}},
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER},
    },
]
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 24}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}
JSON_FMT = {"response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}}
ASK = [{"role": "user", "content": "Describe a person as JSON."}]


def _call(i: int, a: int, b: int) -> dict:
    args = json.dumps({"a": a, "b": b})
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": f"call_{i}", "function": {"name": "add", "arguments": args}}],
    }


# a conversation that shows the format: the 135M model then calls the tool by itself in auto mode
FEW_SHOT = [
    {"role": "user", "content": "Add 4 and 5."},
    _call(1, 4, 5),
    {"role": "tool", "tool_call_id": "call_1", "content": "9"},
    {"role": "user", "content": "Add 2 and 6."},
    _call(2, 2, 6),
    {"role": "user", "content": "Add 7 and 8."},
]


def run(eng: Engine, messages: list, structured: Structured | None, **opts) -> tuple[str, dict]:
    """Streamed text (token events joined) and the done event; a call's streamed deltas must
    join into the done event's call (same id, name and arguments, character for character)."""
    tokens, deltas, last = [], [], {}
    options = {"max_tokens": 40, **opts}  # a call or a person object is 12-20 tokens
    for event in eng.generate_iter(None, messages, options, structured=structured):
        if event["type"] == "token":
            tokens.append(event["text"])
        elif event["type"] == "tool_call":
            deltas.append(event["delta"])
        last = event
    assert last["type"] == "done", last
    if last.get("tool_calls"):
        (call,) = last["tool_calls"]
        head, *pieces = deltas
        assert head == {"index": 0, "id": call["id"], "type": "function", "function": {
            "name": call["function"]["name"], "arguments": ""}}  # fmt: skip
        assert len(pieces) >= 2  # the arguments came in pieces, as they were generated
        assert "".join(p["function"]["arguments"] for p in pieces) == call["function"]["arguments"]
    elif last["finish_reason"] == "stop":
        assert deltas == []  # a text answer streams no call
    return "".join(tokens), last


# -- validation (no model) ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "nope"}}}},
            "invalid_schema",
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"minimum": "x"}}}},
            "invalid_schema",
        ),
        ({"response_format": {"type": "json_schema", "json_schema": {"schema": []}}}, "invalid_schema"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"required": 3}}}]},
            "invalid_schema",
        ),
        (
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "invalid_tool_choice",
        ),
        ({"tool_choice": "required"}, "invalid_tool_choice"),
        ({"tools": TOOLS, "tool_choice": "sometimes"}, "invalid_value"),
        ({"tools": [{"type": "function", "function": {"name": "has space"}}]}, "invalid_value"),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "invalid_value"),
        ({"response_format": {"type": "yaml"}}, "invalid_value"),
        ({"functions": [{"name": "f"}]}, "invalid_value"),
    ],
)
def test_bad_fields_are_400_with_a_code(body: dict, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Structured.from_openai(body)
    assert info.value.status == 400 and info.value.code == code, info.value.message


def test_modes_and_the_tool_call_schema() -> None:
    assert Structured.from_openai({}) is None
    assert Structured.from_openai({"response_format": {"type": "text"}}) is None
    assert Structured.from_openai(JSON_FMT).mode == "json"
    assert Structured.from_openai({"tools": TOOLS}).mode == "auto"
    assert Structured.from_openai({"tools": TOOLS, "tool_choice": "none"}).mode == "plain"
    named = Structured.from_openai(
        {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "add"}}}
    )
    assert named.mode == "call" and named.output_schema()["properties"]["name"] == {"const": "add"}
    both = Structured.from_openai({"tools": TOOLS, "tool_choice": "required"}).output_schema()
    assert [o["properties"]["name"]["const"] for o in both["anyOf"]] == ["add", "get_weather"]
    # closing objects keeps every answer valid against the caller's schema
    assert closed(PERSON)["additionalProperties"] is False and "additionalProperties" not in PERSON


def test_tool_messages_are_checked_and_rendered_without_a_tools_template() -> None:
    msgs = check_messages(FEW_SHOT[:3])
    assert msgs[1]["tool_calls"][0]["type"] == "function" and msgs[2]["tool_call_id"] == "call_1"
    plain, tools = prompt_messages(msgs, Structured.from_openai({"tools": TOOLS}), template_tools=False)
    assert tools is None and plain[0]["role"] == "system" and TOOL_MARKER in plain[0]["content"]
    assert plain[2] == {
        "role": "assistant",
        "content": '<tool_call>{"name":"add","arguments":{"a":4,"b":5}}</tool_call>',
    }
    assert plain[3] == {"role": "user", "content": "Result of the tool add:\n9"}
    templated, tools = prompt_messages(msgs, Structured.from_openai({"tools": TOOLS}), template_tools=True)
    assert tools and templated[1]["tool_calls"][0]["function"]["arguments"] == {"a": 4, "b": 5}
    for bad in (
        [{"role": "tool", "content": "x"}],
        [{"role": "assistant", "content": None, "tool_calls": []}],
    ):
        with pytest.raises(InvalidInput):
            check_messages(bad)


# -- llama.cpp -----------------------------------------------------------------------------------
needs_llamacpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="no llama-cpp-python"
)


@pytest.fixture(scope="module")
def lengine(shared_settings: Settings) -> Iterator[Engine]:
    eng = Engine(dataclasses.replace(shared_settings, backend="llamacpp", n_threads=1))
    eng.load(PACKAGED_CHAT_ID)
    yield eng
    eng.close()


@needs_llamacpp
def test_llamacpp_json_schema_answers_validate(lengine: Engine) -> None:
    assert lengine.capabilities(None)["grammar"] and lengine.capabilities(None)["tools"]
    spec = Structured.from_openai(JSON_FMT)
    for seed in range(5):
        streamed, done = run(lengine, ASK, spec, temperature=0.8, seed=seed)
        assert done["finish_reason"] == "stop" and streamed == done["text"]  # the JSON is the answer
        jsonschema.validate(json.loads(done["text"]), PERSON)


@needs_llamacpp
def test_llamacpp_required_call_streams_no_text(lengine: Engine) -> None:
    spec = Structured.from_openai({"tools": TOOLS, "tool_choice": "required"})
    streamed, done = run(
        lengine, [{"role": "user", "content": "Weather in Oslo?"}], spec, temperature=0.8, seed=1
    )
    assert streamed == "" and done["text"] == "" and done["finish_reason"] == "tool_calls"
    (call,) = done["tool_calls"]
    assert call["id"].startswith("call_") and call["type"] == "function"
    params = {"add": ADD, "get_weather": WEATHER}[call["function"]["name"]]
    jsonschema.validate(json.loads(call["function"]["arguments"]), params)


@needs_llamacpp
def test_llamacpp_auto_mode_calls_after_the_marker_or_answers_in_text(lengine: Engine) -> None:
    spec = Structured.from_openai({"tools": TOOLS})
    streamed, done = run(lengine, FEW_SHOT, spec, temperature=0)
    assert done["finish_reason"] == "tool_calls" and TOOL_MARKER not in streamed and "{" not in streamed
    assert json.loads(done["tool_calls"][0]["function"]["arguments"]) == {"a": 7, "b": 8}
    streamed, done = run(
        lengine, [{"role": "user", "content": "Say hello."}], spec, temperature=0, max_tokens=12
    )
    assert done["finish_reason"] in ("stop", "length") and "tool_calls" not in done
    assert streamed == done["text"] and streamed


@needs_llamacpp
def test_llamacpp_refuses_a_schema_the_grammar_cannot_hold(lengine: Engine) -> None:
    # a valid JSON schema (unknown formats are allowed) that llguidance cannot compile: 400, no answer
    odd = {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"schema": {"type": "string", "format": "weird"}},
        }
    }
    with pytest.raises(InvalidInput) as info:
        run(lengine, ASK, Structured.from_openai(odd))
    assert info.value.code == "invalid_schema"


# -- transformers --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tengine(shared_settings: Settings) -> Iterator[Engine]:
    eng = Engine(dataclasses.replace(shared_settings, backend="transformers"))
    eng.load(PACKAGED_CHAT_ID)
    yield eng
    eng.close()


def test_transformers_masks_logits_for_json_and_calls(tengine: Engine) -> None:
    assert tengine.capabilities(None)["backend"] == "transformers" and tengine.capabilities(None)["grammar"]
    streamed, done = run(
        tengine, ASK, Structured.from_openai(JSON_FMT), temperature=0.8, seed=2, max_tokens=24
    )
    assert done["finish_reason"] == "stop" and streamed == done["text"]
    jsonschema.validate(json.loads(done["text"]), PERSON)
    spec = Structured.from_openai(
        {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "add"}}}
    )
    streamed, done = run(
        tengine, [{"role": "user", "content": "Add 2 and 3."}], spec, temperature=0, max_tokens=24
    )
    assert streamed == "" and done["finish_reason"] == "tool_calls"
    jsonschema.validate(json.loads(done["tool_calls"][0]["function"]["arguments"]), ADD)


# -- remote: the fields go through, the streamed call comes back whole -----------------------------
def test_remote_passes_the_fields_on_and_gathers_the_streamed_call(tmp_path) -> None:
    import asyncio

    from remote_fixtures import faulty_server

    spec = Structured.from_openai({"tools": TOOLS, "tool_choice": "required"})
    history = check_messages(FEW_SHOT)
    with faulty_server() as (root, server):  # a scripted endpoint: this test is about the wire shapes
        eng = Engine(
            Settings(
                data_dir=tmp_path / "d",
                scan_hf_cache=False,
                remote_endpoints=[{"name": "up", "base_url": f"{root}/toolcall/v1"}],
            )
        )
        try:
            assert eng.capabilities("up/m")["tools"]

            async def collect() -> list[dict]:
                return [e async for e in eng.stream("up/m", FEW_SHOT, {"max_tokens": 16}, structured=spec)]

            events = asyncio.run(collect())
        finally:
            eng.close()
    sent = json.loads(server.bodies[-1])
    assert sent["tools"] == spec.tools and sent["tool_choice"] == "required"
    assert sent["messages"] == history  # OpenAI shapes as they came: the endpoint renders them
    assert [e["type"] for e in events] == ["done"]
    done = events[-1]
    assert done["finish_reason"] == "tool_calls"
    assert done["tool_calls"] == [
        {"id": "call_up1", "type": "function", "function": {"name": "add", "arguments": '{"a":2,"b":3}'}}
    ]
