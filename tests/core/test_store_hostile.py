"""Hostile input at the store (issue 13): every case of the issue is refused with a 400-type
InvalidInput naming the field, nothing is written, and every later read still works."""

from __future__ import annotations

import json

import pytest

from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.store.store import Store


def _export(store: Store) -> dict:
    s = store.create_session(title="source", params={"temperature": 0.2})
    u = store.add_message(s["id"], "user", "What is a heron?", tokens=5)
    a = store.add_message(s["id"], "assistant", "A wading bird.", parent_id=u["id"], metadata={"k": 1})
    store.add_metrics(
        a["id"],
        prompt_tokens=5,
        completion_tokens=4,
        ttft_s=0.1,
        tokens_per_s=10.0,
        total_s=0.5,
        model="m",
        device="cpu",
        finish_reason="stop",
    )
    return json.loads(store.export_session(s["id"]))


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def _assert_reads_work(store: Store, sessions: int, messages: int) -> None:
    listed = store.list_sessions()
    assert len(listed) == sessions == store.count_sessions()
    for s in listed:
        assert store.get_session(s["id"]) == s
        store.list_messages(s["id"])
        json.loads(store.export_session(s["id"]))
    assert store.query("SELECT count(*) FROM messages")[1] == [(messages,)]
    assert store.list_sessions(q="heron")


def _msg(doc: dict, i: int = 0, **fields) -> dict:
    out = json.loads(json.dumps(doc))
    out["messages"][i].update(fields)
    return out


CASES = {
    "params nested 500 deep": (
        lambda d: {**d, "session": {**d["session"], "params": _nested(500)}},
        "session.params",
    ),
    "message params nested 33 deep": (lambda d: _msg(d, params=_nested(33)), "messages[0].params"),
    "id is a list": (lambda d: _msg(d, id=[1]), "messages[0].id"),
    "parent_id is an object": (lambda d: _msg(d, 1, parent_id={}), "messages[1].parent_id"),
    "id is a float": (lambda d: _msg(d, id=1.5), "messages[0].id"),
    "prompt_tokens 10**30": (
        lambda d: _msg(d, 1, metrics={**d["messages"][1]["metrics"], "prompt_tokens": 10**30}),
        "prompt_tokens",
    ),
    "completion_tokens 2**31": (
        lambda d: _msg(d, 1, metrics={**d["messages"][1]["metrics"], "completion_tokens": 2**31}),
        "completion_tokens",
    ),
    "ttft_s infinite": (
        lambda d: _msg(d, 1, metrics={**d["messages"][1]["metrics"], "ttft_s": 1e400}),
        "ttft_s",
    ),
    "tokens 10**30": (lambda d: _msg(d, tokens=10**30), "messages[0].tokens"),
    "created_at past 9999 in UTC": (lambda d: _msg(d, created_at="9999-12-31T23:59:59-14:00"), "created_at"),
    "session created_at past 9999": (
        lambda d: {**d, "session": {**d["session"], "created_at": "9999-12-31T23:59:59-14:00"}},
        "session.created_at",
    ),
    "created_at a number": (lambda d: _msg(d, created_at=12), "messages[0].created_at"),
    "surrogate in content": (lambda d: _msg(d, content="bad \ud800 text"), "messages[0].content"),
    "surrogate in title": (lambda d: {**d, "session": {**d["session"], "title": "t\udfff"}}, "session.title"),
    "surrogate in metadata value": (
        lambda d: _msg(d, metadata={"x": ["ok", "\ud800"]}),
        "messages[0].metadata.x[1]",
    ),
    "surrogate in metadata key": (lambda d: _msg(d, metadata={"\ud800": 1}), "messages[0].metadata key"),
    "surrogate in system prompt": (
        lambda d: {**d, "session": {**d["session"], "system_prompt": "\ud800"}},
        "session.system_prompt",
    ),
    "surrogate in model": (lambda d: _msg(d, model="m\ud800"), "messages[0].model"),
    "content over the limit": (lambda d: _msg(d, content="x" * 1001), "messages[0].content"),
    "role a list": (lambda d: _msg(d, role=["user"]), "messages[0].role"),
    "status an object": (lambda d: _msg(d, status={}), "messages[0].status"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_import_is_refused_and_reads_still_work(store, case):
    doc = _export(store)
    mutate, field = CASES[case]
    with pytest.raises(InvalidInput) as err:
        store.import_session(mutate(doc), max_content_chars=1000)
    assert err.value.status == 400
    assert field in err.value.message
    _assert_reads_work(store, sessions=1, messages=2)


def test_json_nested_50k_deep_is_refused(store):
    _export(store)
    text = (
        '{"format": "jupyter-chat-ext.session", "version": 1, "session": ' + "[" * 50_000 + "]" * 50_000 + "}"
    )
    with pytest.raises(InvalidInput) as err:
        store.import_session(text)
    assert "nested too deeply" in err.value.message
    deep_dict = {"format": "jupyter-chat-ext.session", "version": 1, "session": {}, "messages": []}
    node: list = []
    deep_dict["session"]["params"] = {"a": node}
    for _ in range(50_000):  # a parsed document 50k deep (e.g. from another JSON parser)
        node.append([])
        node = node[0]
    with pytest.raises(InvalidInput) as err:
        store.import_session(deep_dict)
    assert "nested deeper than 32" in err.value.message
    _assert_reads_work(store, sessions=1, messages=2)


def test_a_streaming_row_in_an_export_is_imported_as_interrupted(store):
    doc = _msg(_export(store), 1, status="streaming")
    imported = store.import_session(doc)
    assert [m["status"] for m in store.list_messages(imported["id"])] == ["complete", "interrupted"]
    assert [m["tokens"] for m in store.list_messages(imported["id"])] == [5, None]


SURROGATE = "a\ud800b"


def test_every_store_write_refuses_lone_surrogates(store):
    s = store.create_session(title="fine")
    m = store.add_message(s["id"], "user", "fine")
    writes = {
        "title": lambda: store.create_session(title=SURROGATE),
        "system_prompt": lambda: store.create_session(system_prompt=SURROGATE),
        "model": lambda: store.create_session(model=SURROGATE),
        "params": lambda: store.create_session(params={"stop": [SURROGATE]}),
        "update title": lambda: store.update_session(s["id"], title=SURROGATE),
        "content": lambda: store.add_message(s["id"], "user", SURROGATE),
        "metadata": lambda: store.add_message(s["id"], "user", "x", metadata={"k": SURROGATE}),
        "edit": lambda: store.update_message(m["id"], content=SURROGATE),
        "metrics model": lambda: store.add_metrics(
            m["id"],
            prompt_tokens=1,
            completion_tokens=1,
            ttft_s=None,
            tokens_per_s=None,
            total_s=None,
            model=SURROGATE,
            device=None,
            finish_reason=None,
        ),
        "cache key": lambda: store.cache_put(SURROGATE, {}),
        "cache value": lambda: store.cache_put("k", {"text": SURROGATE}),
        "checkpoint": lambda: store.checkpoint_message(m["id"], SURROGATE, 1),
        "finish": lambda: store.finish_message(m["id"], content=SURROGATE, status="complete"),
    }
    for name, write in writes.items():
        with pytest.raises(InvalidInput) as err:
            write()
        assert "lone surrogate" in err.value.message, name
    # reads with a surrogate id are a plain "not found", never an internal error
    from jupyter_chat_ext.errors import NotFound

    with pytest.raises(NotFound):
        store.get_session(SURROGATE)
    assert store.list_sessions(q=SURROGATE) == []
    assert store.search_messages(SURROGATE) == []
    assert store.count_sessions() == 1 and store.get_message(m["id"])["content"] == "fine"
    assert store.cache_get("k") is None


def test_big_values_are_refused_with_their_limit(store):
    s = store.create_session(title="t")
    with pytest.raises(InvalidInput) as err:
        store.add_message(s["id"], "user", "x", metadata={"blob": "x" * 1_000_001})
    assert "metadata" in err.value.message and "limit" in err.value.message
    for bad in ({"offset": 10**30}, {"limit": 10**30}):
        with pytest.raises(InvalidInput):
            store.list_sessions(**bad)
    with pytest.raises(InvalidInput):
        store.list_messages(s["id"], before=10**30)
