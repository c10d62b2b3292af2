"""A big JSON body is decoded in pieces (server/bodies.py ``_Pieces``) so the GIL is let go between
them (a 29 MB import held it ~270 ms in one json.loads); the result and the refusals are those of
json.loads. No server needed: parse_json is a pure function."""

from __future__ import annotations

import json

import pytest

from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.server.bodies import PIECEWISE_CHARS, parse_json

PAD = "x" * (PIECEWISE_CHARS // 100)


def big(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def test_a_big_document_reads_back_the_same():
    doc = {
        "format": "jupyter-chat-ext.session",
        "version": 2,
        "session": {"title": "t", "params": {"temperature": 0.5}, "pinned": False},
        "messages": [
            {"id": i, "content": f"{i} {PAD}", "metadata": {"a": [1, {"b": None}]}} for i in range(120)
        ],
        "empty": [],
        "nested": [[1, 2], [], {"k": "v"}],
        "dup": 1,
    }
    text = json.dumps(doc, indent=1).replace('"dup": 1', '"dup": 1, "dup": 2')
    assert len(text) > PIECEWISE_CHARS
    assert parse_json(text.encode()) == json.loads(text)
    assert parse_json(big(doc)) == doc
    assert parse_json(b"  " + big({}) + b"\n") == {}


@pytest.mark.parametrize(
    ("tail", "words"),
    [
        ("]}garbage", "Extra data"),
        ('], "x" 1}', "':' delimiter"),
        ('] "x": 1}', "',' delimiter"),
        (", NaN]}", "is NaN"),
        ("", "malformed JSON"),
        (', {"a": 1,}]}', "malformed JSON"),
    ],
)
def test_a_big_bad_document_is_refused_like_a_small_one(tail, words):
    head = '{"messages": [' + ", ".join(json.dumps(PAD) for _ in range(120))
    with pytest.raises(InvalidInput) as err:
        parse_json((head + tail).encode())
    assert words in err.value.message
    with pytest.raises(InvalidInput):
        parse_json(b"[" + json.dumps(PAD * 120).encode() + b"]")  # not an object, big
