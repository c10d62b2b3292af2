"""The turn routes validate their bodies with the wire models (wire/chat.py): an unknown field or a
nested wrong type is a 400 naming its path, before any row is written; what the stream sends is
what the document promises (every event validates as ``TurnEvent``)."""

from __future__ import annotations

from pydantic import TypeAdapter
from server_testlib import assert_error, on_jp_loop

from jupyter_chat_ext.wire.chat import TurnEvent


async def _refused(api, sid: str, body: dict, name: str) -> str:
    err = assert_error(await api.post("sessions", sid, "chat", body=body), 400, "invalid_input")
    assert name in err["message"], err
    assert (await api.get("sessions", sid, "messages")).json["messages"] == []  # nothing written
    return err["message"]


@on_jp_loop
async def test_an_unknown_or_mistyped_field_is_a_400_naming_its_path(api):
    sid = (await api.new_session())["id"]
    message = await _refused(api, sid, {"content": "hi", "colour": "blue"}, "'colour'")
    assert "not a known field" in message
    bad_label = {"content": "hi", "context": [{"kind": "cell", "label": 7, "text": "x = 1"}]}
    await _refused(api, sid, bad_label, "'context[0].label'")
    bad_kind = {"content": "hi", "context": [{"kind": "disk", "label": "a", "text": "b"}]}
    await _refused(api, sid, bad_kind, "'context[0].kind'")
    await _refused(api, sid, {"content": "hi", "params": {"temperature": "hot"}}, "'params.temperature'")
    await _refused(api, sid, {"content": "hi", "params": {"warmth": 1}}, "'params.warmth'")
    await _refused(api, sid, {"content": "hi", "rag": {"collection": "docs", "k": 0}}, "'rag.k'")
    await _refused(api, sid, {"content": "hi", "tools": {"max_steps": "many"}}, "'tools.max_steps'")
    # the same models guard edit, regenerate, continue and the tool-call reply
    err = assert_error(await api.post("sessions", sid, "regenerate", body={"params": {"seed": -1}}), 400)
    assert "'params.seed'" in err["message"]
    err = assert_error(await api.post("tool-calls", "call_x", body={"decision": "deny", "why": 1}), 400)
    assert "'why'" in err["message"]


@on_jp_loop
async def test_regenerate_takes_the_sidebars_turn_body(api):
    """The sidebar sends every turn's fields (params, rag, tools) with a regenerate: accepted."""
    sid = (await api.new_session())["id"]
    body = {"params": {"max_tokens": 8}, "rag": None, "tools": {"names": None}}
    assert_error(await api.post("sessions", sid, "regenerate", body=body), 409, "nothing_to_regenerate")


@on_jp_loop
async def test_every_event_of_a_turn_is_a_declared_turn_event(api):
    sid = (await api.new_session())["id"]
    reply = await api.chat(sid, "Say hello.", params={"max_tokens": 8, "temperature": 0, "stop": "\n\n"})
    assert reply.code == 200
    events = TypeAdapter(list[TurnEvent]).validate_python([data for _, data in reply.events])
    assert events[0].type == "start" and events[-1].type == "done"
    stored = (await api.get("sessions", sid, "messages")).json["messages"]
    assert stored[-1]["params"]["stop"] == ["\n\n"]  # one string is a list of one, stored as such
