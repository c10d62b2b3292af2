"""Chat turns with the real packaged model and a real DuckDB file: checkpoints while streaming,
continuing an interrupted answer, answer versions, stored token counts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jupyter_chat_ext.chat.service import ChatService
from jupyter_chat_ext.errors import Conflict, InvalidInput, NotFound

STORY = "Write a long story about a dragon who learns to bake bread."


async def collect(gen: Any) -> list[dict[str, Any]]:
    return [event async for event in gen]


async def interrupted_answer(svc: ChatService, sid: str, tokens: int = 5) -> tuple[int, str]:
    """Start a long answer, stop it after ``tokens`` token events; returns (message id, partial)."""
    gen = svc.chat(sid, STORY, {"max_tokens": 300})
    got: list[str] = []
    answer_id = None
    async for event in gen:
        if event["type"] == "start":
            answer_id = event["assistant_message_id"]
        elif event["type"] == "token":
            got.append(event["text"])
            if len(got) == tokens:
                break
    await gen.aclose()
    assert answer_id is not None
    return answer_id, "".join(got)


async def test_the_streaming_answer_is_checkpointed(chat_service: ChatService) -> None:
    svc = chat_service
    svc.turns.checkpoint_interval = 0.1  # the default is ~1 s; a test need not wait that long
    s = svc.create_session()
    gen = svc.chat(s["id"], STORY, {"max_tokens": 300})
    streamed: list[str] = []
    seen: dict[str, Any] | None = None
    answer_id = None
    async for event in gen:
        if event["type"] == "start":
            answer_id = event["assistant_message_id"]
            placeholder = await asyncio.to_thread(svc.get_message, answer_id)
            assert placeholder["status"] == "streaming"
        if event["type"] != "token":
            continue
        streamed.append(event["text"])
        row = await asyncio.to_thread(svc.get_message, answer_id)
        if row["content"]:
            seen = row
            break
        await asyncio.sleep(0.02)  # a slow reader: give the checkpoint thread its turn
    assert seen is not None, "no checkpoint reached the store while the answer streamed"
    # read mid-stream: still streaming, holding a prefix of what the client already got
    assert seen["status"] == "streaming"
    assert "".join(streamed).startswith(seen["content"])
    assert 0 < seen["tokens"] <= len(streamed)
    await gen.aclose()
    final = await asyncio.to_thread(svc.get_message, answer_id)
    assert final["status"] == "interrupted" and final["content"] == "".join(streamed)
    assert final["tokens"] > 0 and final["metrics"]["finish_reason"] == "cancelled"


async def test_continue_an_interrupted_answer(chat_service: ChatService) -> None:
    svc = chat_service
    s = svc.create_session()
    answer_id, partial = await interrupted_answer(svc, s["id"])
    stopped = svc.get_message(answer_id)
    assert stopped["status"] == "interrupted" and stopped["content"] == partial

    events = await collect(svc.continue_answer(answer_id, {"max_tokens": 12}))
    start, done = events[0], events[-1]
    assert start["type"] == "start" and start["assistant_message_id"] == answer_id
    assert start["user_message_id"] == stopped["parent_id"]
    new_text = "".join(e["text"] for e in events if e["type"] == "token")
    assert done["type"] == "done" and done["message_id"] == answer_id
    # the new text is appended: done.text is the whole message
    assert new_text and done["text"] == partial + new_text
    assert done["metrics"]["completion_tokens"] > stopped["tokens"]
    msgs = svc.list_messages(s["id"])
    assert [m["role"] for m in msgs] == ["user", "assistant"]  # no new row
    assert msgs[1]["content"] == done["text"] and msgs[1]["status"] == "complete"
    assert msgs[1]["metadata"]["finish_reason"] in ("stop", "length")
    assert msgs[1]["tokens"] == done["metrics"]["completion_tokens"]
    assert svc.get_session(s["id"])["completion_tokens"] == msgs[1]["tokens"]

    # only an interrupted answer can be continued
    with pytest.raises(Conflict) as err:
        await collect(svc.continue_answer(answer_id))
    assert err.value.code == "not_interrupted" and err.value.status == 409
    with pytest.raises(Conflict):
        await collect(svc.continue_answer(msgs[0]["id"]))  # a user message
    with pytest.raises(NotFound):
        await collect(svc.continue_answer(10**9))
    with pytest.raises(InvalidInput):
        await collect(svc.continue_answer("7"))  # type: ignore[arg-type]
    assert svc.get_message(answer_id)["content"] == done["text"]  # refusals changed nothing


async def test_continue_can_itself_be_stopped_and_continued(chat_service: ChatService) -> None:
    svc = chat_service
    s = svc.create_session()
    answer_id, partial = await interrupted_answer(svc, s["id"], tokens=3)
    gen = svc.continue_answer(answer_id, {"max_tokens": 200})
    more: list[str] = []
    async for event in gen:
        if event["type"] == "token":
            more.append(event["text"])
            if len(more) == 3:
                break
    await gen.aclose()
    row = svc.get_message(answer_id)
    assert row["status"] == "interrupted" and row["content"] == partial + "".join(more)
    done = (await collect(svc.continue_answer(answer_id, {"max_tokens": 4})))[-1]
    assert done["text"].startswith(partial + "".join(more)) and done["status"] == "complete"


async def test_versions_of_an_answer(chat_service: ChatService) -> None:
    svc = chat_service
    s = svc.create_session()
    first = (await collect(svc.chat(s["id"], "Name a fruit.", {"max_tokens": 6})))[-1]
    second = (await collect(svc.regenerate(s["id"], {"max_tokens": 6, "temperature": 1.0, "seed": 1})))[-1]
    third = (await collect(svc.regenerate(s["id"], {"max_tokens": 6, "temperature": 1.0, "seed": 2})))[-1]
    msgs = svc.list_messages(s["id"])
    user = msgs[0]
    assert [m["id"] for m in msgs] == [
        user["id"],
        first["message_id"],
        second["message_id"],
        third["message_id"],
    ]
    assert all(m["parent_id"] == user["id"] for m in msgs[1:])
    assert svc.get_session(s["id"])["message_count"] == 4

    # resending the same text adds a version too; new text starts a branch beside it
    await collect(svc.edit_and_resend(user["id"], "Name a fruit.", {"max_tokens": 6}))
    assert len(svc.list_messages(s["id"])) == 5
    done = (await collect(svc.edit_and_resend(user["id"], "Name a vegetable.", {"max_tokens": 6})))[-1]
    msgs = svc.list_messages(s["id"])
    assert [m["id"] for m in msgs] == [done["user_message_id"], done["message_id"]]
    assert msgs[0]["content"] == "Name a vegetable." and msgs[0]["branch"]["count"] == 2
    # the first branch keeps its question and all four answer versions
    other = svc.create_session()
    with pytest.raises(NotFound):  # a message of another session is no branch of this one
        svc.switch_branch(other["id"], user["id"])
    svc.switch_branch(s["id"], user["id"])
    kept = svc.list_messages(s["id"])
    assert kept[0]["content"] == "Name a fruit." and len(kept) == 5


async def test_the_prompt_uses_only_the_newest_version(chat_service: ChatService) -> None:
    svc = chat_service
    s = svc.create_session()
    user = svc.store.add_message(s["id"], "user", "Say hello.")
    # an old, long version and the current, short one
    svc.store.add_message(s["id"], "assistant", "rivers flow to the sea " * 80, parent_id=user["id"])
    svc.store.add_message(s["id"], "assistant", "Hello!", parent_id=user["id"])
    done = (await collect(svc.chat(s["id"], "Thanks.", {"max_tokens": 4})))[-1]
    assert done["type"] == "done"
    # with the old version in the prompt it would hold > 400 tokens
    assert done["metrics"]["prompt_tokens"] < 100


async def test_token_counts_are_stored(chat_service: ChatService) -> None:
    svc = chat_service
    s = svc.create_session()
    done = (await collect(svc.chat(s["id"], "What is the capital of France?", {"max_tokens": 8})))[-1]
    user, answer = svc.list_messages(s["id"])
    model = done["metrics"]["model"]
    assert user["tokens"] == svc.engine.count_tokens(model, user["content"]) > 0
    assert answer["tokens"] == done["metrics"]["completion_tokens"] == answer["metrics"]["completion_tokens"]
    # an edit clears the stale count: the next prompt counts that message afresh
    edited = svc.edit_message(user["id"], "What is the capital of Spain?")
    assert edited["content"] == "What is the capital of Spain?" and edited["tokens"] is None
    # a resend with new text stores the new text's count with it
    resend = svc.edit_and_resend(user["id"], "What is the capital of Italy?", {"max_tokens": 4})
    done = (await collect(resend))[-1]
    resent = svc.get_message(done["user_message_id"])
    assert resent["tokens"] == svc.engine.count_tokens(model, "What is the capital of Italy?")


async def test_the_prompt_follows_the_branch_shown(chat_service: ChatService) -> None:
    svc = chat_service
    s = svc.create_session()
    q1 = svc.store.add_message(s["id"], "user", "Say hello.")
    svc.store.add_message(s["id"], "assistant", "Hello!", parent_id=q1["id"])
    q2 = svc.store.add_message(s["id"], "user", "rivers flow to the sea " * 80)
    svc.store.add_message(s["id"], "assistant", "Indeed.", parent_id=q2["id"])
    # the edit of the first question is answered without the second turn (> 400 tokens)
    edit = (await collect(svc.edit_and_resend(q1["id"], "Say hi.", {"max_tokens": 4})))[-1]
    assert edit["type"] == "done" and edit["metrics"]["prompt_tokens"] < 100
    # a follow-up on the new branch: still without it
    short = (await collect(svc.chat(s["id"], "Thanks.", {"max_tokens": 4})))[-1]
    assert short["metrics"]["prompt_tokens"] < 100
    # back on the old branch, the long turn is in the prompt again
    svc.switch_branch(s["id"], q1["id"])
    long = (await collect(svc.chat(s["id"], "Thanks.", {"max_tokens": 4})))[-1]
    assert long["metrics"]["prompt_tokens"] > 400
    users = [m["content"] for m in svc.list_messages(s["id"]) if m["role"] == "user"]
    assert users == ["Say hello.", "rivers flow to the sea " * 80, "Thanks."]
