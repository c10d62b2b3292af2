"""engine/tool_stream.py: a tool call's OpenAI deltas from its text as it grows (no model).

The model's side is tested in test_structured.py (every generated call's deltas join into the
done event's call); here the scanner meets what a grammar could let through: nested objects,
strings holding braces, quotes and escapes, whitespace, the keys in either order, a cut-off call.
"""

from __future__ import annotations

import json

import pytest

from jupyter_chat_ext.engine.tool_stream import CallDeltas, CallScanner

CALLS = [
    '{"name":"add","arguments":{"a":2,"b":3}}',
    '{"name":"write_file","arguments":{"path":"a/b.py",'
    '"content":"def f():\\n    return {\\"x\\": [1, \\"}\\"]}"}}',
    '{ "name" : "nested", "arguments" : { "o" : { "l" : [ { } , [ ] ] }, "s" : "\\u00e9\\\\" } }',
    '{"arguments":{"q":"late name"},"name":"search"}',
    '{"name":"caf\\u00e9","arguments":{}}',
]


def feed(text: str, step: int) -> list[dict]:
    """The deltas of ``text`` arriving ``step`` characters at a time."""
    stream = CallDeltas("call_1")
    out: list[dict] = []
    for end in range(step, len(text) + step, step):
        out += stream.update(text[:end])
    return out


@pytest.mark.parametrize("text", CALLS)
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_deltas_join_into_the_call(text: str, step: int) -> None:
    head, *pieces = feed(text, step)
    obj = json.loads(text)
    fn = {"name": obj["name"], "arguments": ""}
    assert head == {"index": 0, "id": "call_1", "type": "function", "function": fn}
    joined = "".join(p["function"]["arguments"] for p in pieces)
    assert all(p["index"] == 0 and set(p) == {"index", "function"} for p in pieces)
    assert json.loads(joined) == obj["arguments"]
    scan = CallScanner()
    scan.feed(text)
    assert scan.arguments(text) == joined  # what the finished call carries
    if step == 1 and text.index('"name"') < text.index('"arguments"'):
        assert len(pieces) == len(joined)  # a piece per character: nothing waits for the end


def test_the_name_waits_for_its_closing_quote_and_a_cut_call_stays_open() -> None:
    stream = CallDeltas("call_2")
    assert stream.update('{"name":"get_wea') == [] and not stream.started
    (head,) = stream.update('{"name":"get_weather"')
    assert head["function"]["name"] == "get_weather" and stream.started
    assert stream.update('{"name":"get_weather","arguments":{"city":"Os') == [
        {"index": 0, "function": {"arguments": '{"city":"Os'}}
    ]
    assert stream.scanner.arguments('{"name":"get_weather","arguments":{"city":"Os') is None
