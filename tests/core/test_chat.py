"""ChatService: full turns with the real model and a real DuckDB file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_chat_ext.chat.service import ChatService
from jupyter_chat_ext.chat.titles import title_from
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from jupyter_chat_ext.settings import Settings
from jupyter_chat_ext.store.store import Store


@pytest.fixture(scope="module")
def engine(shared_settings: Settings):
    """This module's own engine. Its greedy answers are asserted, and they must not depend on
    which prompts other modules left in the llama.cpp KV cache: a reused prefix evaluates the rest
    of the prompt in another batch shape, which shifts float sums enough to flip the 135M model
    between "Paris" and "Le Grand Château" (llama-server's prompt cache does the same)."""
    eng = Engine(shared_settings)
    eng.load(shared_settings.default_model)
    yield eng
    eng.close()


async def collect(gen: Any) -> list[dict[str, Any]]:
    return [event async for event in gen]


async def test_a_turn_streams_and_is_stored(chat_service: ChatService) -> None:
    s = chat_service.create_session()
    events = await collect(chat_service.chat(s["id"], "Name the capital of France.", {"max_tokens": 16}))
    assert events[0]["type"] == "start" and events[-1]["type"] == "done"
    tokens = [e["text"] for e in events if e["type"] == "token"]
    assert len(tokens) >= 2
    done = events[-1]
    assert done["text"] == "".join(tokens) and "Paris" in done["text"]
    msgs = chat_service.list_messages(s["id"])
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    user, answer = msgs
    assert user["content"] == "Name the capital of France."
    assert answer["id"] == done["message_id"] == events[0]["assistant_message_id"]
    assert answer["status"] == "complete" and answer["parent_id"] == user["id"]
    assert answer["content"] == done["text"]
    assert answer["metrics"]["completion_tokens"] == done["metrics"]["completion_tokens"] > 0
    assert answer["metrics"]["device"] == "cpu" and answer["metrics"]["ttft_s"] > 0
    session = chat_service.get_session(s["id"])
    assert session["title"] == "Name the capital of France"  # the full stop goes
    assert session["message_count"] == 2 and session["completion_tokens"] > 0


async def test_history_is_used_in_the_next_turn(chat_service: ChatService) -> None:
    s = chat_service.create_session(system_prompt="You are terse.")
    await collect(chat_service.chat(s["id"], "My name is Zorblax.", {"max_tokens": 8}))
    events = await collect(chat_service.chat(s["id"], "What is my name?", {"max_tokens": 12}))
    done = events[-1]
    # the first exchange and the system prompt are in the prompt: far more than the question alone
    assert done["metrics"]["prompt_tokens"] > 30
    assert len(chat_service.list_messages(s["id"])) == 4


async def test_cancel_mid_stream_keeps_the_partial(chat_service: ChatService) -> None:
    s = chat_service.create_session()
    gen = chat_service.chat(s["id"], "Write a long story about a dragon.", {"max_tokens": 300})
    got: list[str] = []
    async for event in gen:
        if event["type"] == "token":
            got.append(event["text"])
            if len(got) == 4:
                break
    await gen.aclose()  # the consumer went away (a closed browser tab, Ctrl-C)
    answer = chat_service.list_messages(s["id"])[-1]
    assert answer["role"] == "assistant" and answer["status"] == "interrupted"
    assert answer["content"] == "".join(got)
    assert answer["metadata"]["finish_reason"] == "cancelled"
    assert answer["metrics"]["finish_reason"] == "cancelled"


async def test_regenerate_adds_a_version_of_the_answer(chat_service: ChatService) -> None:
    s = chat_service.create_session()
    first = (await collect(chat_service.chat(s["id"], "Say something.", {"max_tokens": 8})))[-1]
    again = await collect(chat_service.regenerate(s["id"], {"max_tokens": 8, "temperature": 1.0, "seed": 5}))
    msgs = chat_service.list_messages(s["id"])
    # the earlier answer stays as version 1 of this turn; the new one (highest id) is current
    assert [m["role"] for m in msgs] == ["user", "assistant", "assistant"]
    assert msgs[1]["id"] == first["message_id"] and msgs[1]["parent_id"] == msgs[0]["id"]
    assert msgs[2]["id"] == again[-1]["message_id"] != first["message_id"]
    assert msgs[2]["parent_id"] == msgs[0]["id"]
    assert msgs[2]["params"]["seed"] == 5
    empty = chat_service.create_session()
    with pytest.raises(Conflict):
        await collect(chat_service.regenerate(empty["id"]))


async def test_edit_and_resend(chat_service: ChatService) -> None:
    s = chat_service.create_session()
    await collect(chat_service.chat(s["id"], "What is 2+2?", {"max_tokens": 8}))
    await collect(chat_service.chat(s["id"], "And 3+3?", {"max_tokens": 8}))
    first_user = chat_service.list_messages(s["id"])[0]
    events = await collect(
        chat_service.edit_and_resend(first_user["id"], "Which city is the capital of France?")
    )
    msgs = chat_service.list_messages(s["id"])
    assert [m["role"] for m in msgs] == ["user", "assistant"]  # the new branch is shown
    assert msgs[0]["content"] == "Which city is the capital of France?"
    assert msgs[1]["id"] == events[-1]["message_id"]
    assert msgs[0]["id"] == events[-1]["user_message_id"] != first_user["id"]
    assert msgs[0]["branch"] == {"index": 2, "count": 2, "prev": first_user["id"], "next": None}
    # the old branch is kept whole: both of its turns, and the question as it was
    chat_service.switch_branch(s["id"], first_user["id"])
    old = chat_service.list_messages(s["id"])
    assert [m["content"] for m in old if m["role"] == "user"] == ["What is 2+2?", "And 3+3?"]
    assert len(old) == 4
    with pytest.raises(InvalidInput, match="only a user message"):
        await collect(chat_service.edit_and_resend(msgs[1]["id"], "x"))


async def test_seeded_turns_are_reproducible(chat_service: ChatService) -> None:
    opts = {"max_tokens": 16, "temperature": 0.9, "seed": 42}
    answers = []
    for _ in range(2):
        s = chat_service.create_session()
        answers.append((await collect(chat_service.chat(s["id"], "Tell me a fun fact.", opts)))[-1]["text"])
    assert answers[0] == answers[1] and answers[0]


def test_new_session_fields_are_checked(chat_service: ChatService) -> None:
    s = chat_service.create_session(title="  notes  ", params={"temperature": 0.5})
    assert (s["title"], s["params"]) == ("notes", {"temperature": 0.5})
    for bad in ({"colour": "blue"}, {"params": {"temperature": -1}}, {"model": "no-such-model"}):
        with pytest.raises((InvalidInput, NotFound)):
            chat_service.create_session(**bad)  # type: ignore[misc]
    assert chat_service.count_sessions() == 1


async def test_bad_input_writes_nothing(chat_service: ChatService) -> None:
    s = chat_service.create_session()
    with pytest.raises(InvalidInput, match="empty"):
        await collect(chat_service.chat(s["id"], "   "))
    with pytest.raises(InvalidInput, match="temperature"):
        await collect(chat_service.chat(s["id"], "hi", {"temperature": -1}))
    with pytest.raises(InvalidInput, match="above the model's context"):
        await collect(chat_service.chat(s["id"], "hi", {"max_tokens": 10**6}))
    with pytest.raises(PayloadTooLarge, match="prompt tokens"):
        await collect(chat_service.chat(s["id"], "word " * 9000, {"max_tokens": 8}))
    with pytest.raises(NotFound):
        await collect(chat_service.chat("0" * 32, "hi"))
    with pytest.raises(InvalidInput):
        await collect(chat_service.chat(s["id"], 42))  # type: ignore[arg-type]
    assert chat_service.list_messages(s["id"]) == []
    with pytest.raises(NotFound):
        chat_service.create_session(model="no-such-model")
    with pytest.raises(InvalidInput):
        chat_service.create_session(params={"top_p": 7})
    with pytest.raises(InvalidInput):
        chat_service.update_session(s["id"], title="  ")
    with pytest.raises(InvalidInput):
        chat_service.update_session(s["id"], colour="red")


async def test_long_history_is_trimmed_oldest_first(shared_settings: Settings, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "d", model_cache_dir=shared_settings.model_cache_dir, context_budget=400
    )
    engine = Engine(settings)
    store = Store(settings.db_path)
    svc = ChatService(store, engine, settings)
    try:
        s = svc.create_session()
        for i in range(30):  # ~30 x 40 tokens: far more than 400
            store.add_message(s["id"], "user", f"Old question number {i}: " + "tell me about rivers " * 6)
            store.add_message(
                s["id"], "assistant", f"Old answer number {i}: " + "rivers flow to the sea " * 6
            )
        done = (await collect(svc.chat(s["id"], "Summarise our talk.", {"max_tokens": 16})))[-1]
        assert done["type"] == "done" and done["status"] == "complete"
        assert done["metrics"]["prompt_tokens"] <= 400 - 16
        assert done["metrics"]["prompt_tokens"] > 150  # recent history was kept, not all dropped
    finally:
        svc.close()


async def test_sessions_crud_pin_export_import(chat_service: ChatService) -> None:
    a = chat_service.create_session(title="Alpha", params={"temperature": 0.2})
    b = chat_service.create_session(title="Beta")
    chat_service.update_session(a["id"], pinned=True, title="Alpha renamed")
    listed = chat_service.list_sessions()
    assert listed[0]["id"] == a["id"] and listed[0]["pinned"] is True
    await collect(chat_service.chat(b["id"], "Tell me about volcanoes.", {"max_tokens": 8}))
    assert [x["id"] for x in chat_service.list_sessions(q="volcanoes")] == [b["id"]]
    exported = chat_service.export_session(b["id"], "json")
    copy = chat_service.import_session(exported)
    assert copy["id"] != b["id"]
    originals = chat_service.list_messages(b["id"])
    copies = chat_service.list_messages(copy["id"])
    assert [(m["role"], m["content"], m["status"]) for m in copies] == [
        (m["role"], m["content"], m["status"]) for m in originals
    ]
    assert (
        json.loads(chat_service.export_session(copy["id"], "json"))["messages"][1]["content"]
        == copies[1]["content"]
    )
    md = chat_service.export_session(b["id"], "markdown")
    assert "volcanoes" in md
    with pytest.raises(InvalidInput):
        chat_service.export_session(b["id"], "pdf")
    chat_service.delete_session(b["id"])
    with pytest.raises(NotFound):
        chat_service.get_session(b["id"])


def test_titles() -> None:
    assert title_from("What is the capital of France? And Spain?") == "What is the capital of France?"
    assert title_from("```python\nprint(1)\n```\nExplain this code please") == "Explain this code please"
    long = title_from("a " * 100)
    assert len(long) <= 49 and long.endswith("…")
    assert title_from("   ", "") == "New chat"
    # an @-reference is context, never the title (issue 20)
    assert title_from("@cell How many rows are there?") == "How many rows are there?"
    assert title_from("@file:docs/gui.md @var:df", "It has 3 rows.") == "It has 3 rows"
    assert title_from("mail me@cell.org") == "mail me@cell.org"
