"""Sessions, messages, export/import and history search over a real server and DuckDB file."""

from __future__ import annotations

import json

from server_testlib import assert_error, on_jp_loop


@on_jp_loop
async def test_session_crud(api):
    created = await api.new_session(title="Plan", system_prompt="Be brief.", params={"temperature": 0})
    sid = created["id"]
    assert created["title"] == "Plan" and created["system_prompt"] == "Be brief."
    assert created["params"] == {"temperature": 0} and created["pinned"] is False

    reply = await api.get("sessions", sid)
    assert reply.code == 200 and reply.json["id"] == sid

    reply = await api.patch("sessions", sid, body={"title": "Renamed", "pinned": True})
    assert reply.code == 200
    assert reply.json["title"] == "Renamed" and reply.json["pinned"] is True

    other = await api.new_session(title="Other")
    listing = (await api.get("sessions")).json
    assert listing["total"] == 2
    assert [s["id"] for s in listing["sessions"]] == [sid, other["id"]]  # pinned first

    page = (await api.get("sessions", params={"limit": 1, "offset": 1})).json
    assert page["total"] == 2 and [s["id"] for s in page["sessions"]] == [other["id"]]

    found = (await api.get("sessions", params={"q": "renam"})).json
    assert found["total"] == 1 and found["sessions"][0]["id"] == sid

    reply = await api.delete("sessions", sid)
    assert reply.code == 204 and reply.body == b""
    assert_error(await api.get("sessions", sid), 404, "not_found")
    assert (await api.get("sessions")).json["total"] == 1


@on_jp_loop
async def test_a_stored_conversation_reads_back_with_pagination(api):
    sid = (await api.new_session(title="Counting"))["id"]
    answers = []
    for word in ("one", "two", "three"):
        reply = await api.chat(sid, f"Say the word {word}")
        assert reply.code == 200, reply.body
        done = next(d for kind, d in reply.events if kind == "done")
        answers.append((done["user_message_id"], done["message_id"], done))

    everything = (await api.get("sessions", sid, "messages")).json
    assert everything["has_more"] is False
    messages = everything["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"] * 3
    assert [m["content"] for m in messages[0::2]] == [
        "Say the word one",
        "Say the word two",
        "Say the word three",
    ]
    pairs = zip(answers, messages[0::2], messages[1::2], strict=True)
    for (user_id, answer_id, done), user, answer in pairs:
        assert (user["id"], answer["id"]) == (user_id, answer_id)
        assert answer["content"] == done["text"] and answer["status"] == "complete"
        assert answer["metrics"]["completion_tokens"] == done["metrics"]["completion_tokens"]

    newest = (await api.get("sessions", sid, "messages", params={"limit": 2})).json
    assert newest["has_more"] is True
    assert [m["id"] for m in newest["messages"]] == [m["id"] for m in messages[-2:]]
    older = (
        await api.get(
            "sessions", sid, "messages", params={"limit": 10, "before": newest["messages"][0]["id"]}
        )
    ).json
    assert older["has_more"] is False
    assert [m["id"] for m in older["messages"]] == [m["id"] for m in messages[:-2]]

    # the session list counts the turn's messages and tokens
    session = (await api.get("sessions", sid)).json
    assert session["message_count"] == 6
    assert session["completion_tokens"] == sum(d["metrics"]["completion_tokens"] for _, _, d in answers)


@on_jp_loop
async def test_message_patch_and_delete(api):
    sid = (await api.new_session())["id"]
    done = next(d for k, d in (await api.chat(sid, "Hello there")).events if k == "done")
    user_id, answer_id = done["user_message_id"], done["message_id"]

    reply = await api.patch("sessions", sid, "messages", str(user_id), body={"content": "Hello again"})
    assert reply.code == 200 and reply.json["content"] == "Hello again"

    other = (await api.new_session())["id"]
    assert_error(await api.patch("sessions", other, "messages", str(user_id), body={"content": "x"}), 404)
    assert_error(await api.delete("sessions", sid, "messages", "not-a-number"), 404)

    reply = await api.delete("sessions", sid, "messages", str(answer_id))
    assert reply.code == 204
    remaining = (await api.get("sessions", sid, "messages")).json["messages"]
    assert [m["id"] for m in remaining] == [user_id]
    assert remaining[0]["content"] == "Hello again"


@on_jp_loop
async def test_edit_and_resend_streams_a_new_answer(api):
    sid = (await api.new_session())["id"]
    first = next(d for k, d in (await api.chat(sid, "Name a colour")).events if k == "done")
    reply = await api.patch(
        "sessions",
        sid,
        "messages",
        str(first["user_message_id"]),
        body={"content": "Name a fruit", "resend": True, "params": {"max_tokens": 6, "temperature": 0}},
        stream=True,
    )
    assert reply.code == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    kinds = [k for k, _ in reply.events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    messages = (await api.get("sessions", sid, "messages")).json["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["Name a fruit"]
    assert len(messages) == 2 and messages[1]["id"] != first["message_id"]


@on_jp_loop
async def test_export_and_import_round_trip(api):
    sid = (await api.new_session(title="Trip notes"))["id"]
    assert (await api.chat(sid, "Pack a towel")).code == 200

    md = await api.get("sessions", sid, "export", params={"format": "markdown"})
    assert md.code == 200
    assert md.headers["Content-Type"].startswith("text/markdown")
    assert md.headers["Content-Disposition"].startswith('attachment; filename="Trip-notes-')
    assert md.headers["Content-Disposition"].endswith('.md"')
    assert "Pack a towel" in md.text

    js = await api.get("sessions", sid, "export", params={"format": "json"})
    assert js.code == 200 and js.headers["Content-Disposition"].endswith('.json"')
    exported = js.json

    reply = await api.post("sessions", "import", body=exported)
    assert reply.code == 201, reply.body
    imported = reply.json
    assert imported["id"] != sid and imported["title"] == "Trip notes"
    original = (await api.get("sessions", sid, "messages")).json["messages"]
    copied = (await api.get("sessions", imported["id"], "messages")).json["messages"]
    assert [(m["role"], m["content"]) for m in copied] == [(m["role"], m["content"]) for m in original]

    assert_error(await api.get("sessions", sid, "export", params={"format": "pdf"}), 400)
    assert_error(await api.post("sessions", "import", body=json.dumps([1, 2])), 400)


@on_jp_loop
async def test_history_search_finds_message_text(api):
    sid = (await api.new_session(title="Zebra facts"))["id"]
    assert (await api.chat(sid, "Tell me about quokkas")).code == 200
    reply = await api.get("search", params={"q": "quokka"})
    assert reply.code == 200
    results = reply.json["results"]
    assert {r["session_id"] for r in results} == {sid}
    assert any(r["role"] == "user" and "quokkas" in r["snippet"] for r in results)
    assert_error(await api.get("search"), 400)
