"""One writer per session in the core (every door: server and kernel alike): while a turn streams,
a second turn, a regenerate, a continue, an edit or a delete of that session is refused with 409
``session_busy`` before it writes; other sessions are untouched; the session is free again after."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from jupyter_chat_ext.chat.service import ChatService
from jupyter_chat_ext.chat.session_lock import SessionLocks
from jupyter_chat_ext.errors import Conflict

LONG = {"max_tokens": 64, "temperature": 0}


async def first_event(gen: Any) -> dict[str, Any]:
    return await gen.__anext__()


async def test_a_streaming_turn_holds_its_session(chat_service: ChatService) -> None:
    svc = chat_service
    sid = svc.create_session()["id"]
    other = svc.create_session()["id"]
    running = svc.chat(sid, "Tell me a long story about a dragon.", LONG)
    start = await first_event(running)
    assert start["type"] == "start"
    user_id, answer_id = start["user_message_id"], start["assistant_message_id"]

    refusals = [
        lambda: svc.chat(sid, "Another one?", {"max_tokens": 2}),
        lambda: svc.regenerate(sid, {"max_tokens": 2}),
        lambda: svc.edit_and_resend(user_id, "Changed", {"max_tokens": 2}),
    ]
    for make in refusals:
        with pytest.raises(Conflict) as err:
            await first_event(make())
        assert err.value.code == "session_busy" and err.value.status == 409
    for sync in (
        lambda: svc.delete_message(answer_id),
        lambda: svc.edit_message(user_id, "edited"),
        lambda: svc.delete_session(sid),
    ):
        with pytest.raises(Conflict) as err:
            await asyncio.to_thread(sync)
        assert err.value.code == "session_busy"
    # another session is not held
    done = [e async for e in svc.chat(other, "Hi", {"max_tokens": 2})]
    assert done[-1]["type"] == "done"

    rest = [e async for e in running]
    assert rest[-1]["type"] == "done"
    rows = svc.list_messages(sid)
    # the refused requests wrote nothing and deleted nothing
    assert [(m["id"], m["role"], m["status"]) for m in rows] == [
        (user_id, "user", "complete"),
        (answer_id, "assistant", "complete"),
    ]
    # free again once the stream ended
    again = [e async for e in svc.regenerate(sid, {"max_tokens": 2})]
    assert again[-1]["type"] == "done"


async def test_a_closed_stream_frees_its_session(chat_service: ChatService) -> None:
    svc = chat_service
    sid = svc.create_session()["id"]
    running = svc.chat(sid, "Count to fifty.", LONG)
    await first_event(running)
    await running.aclose()  # the client went away: the answer is kept as interrupted
    svc.delete_message(svc.list_messages(sid)[-1]["id"])
    assert [m["role"] for m in svc.list_messages(sid)] == ["user"]


def test_short_writes_wait_for_each_other_mechanics() -> None:
    """Two clicks that race (edit + delete) are serialised, not refused (mechanics: no store)."""
    locks = SessionLocks()
    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with locks.short("s", "an edit"):
            held.set()
            time.sleep(0.2)
            order.append("first")

    t = threading.Thread(target=first)
    t.start()
    held.wait()
    with locks.short("s", "a delete"):
        order.append("second")
    t.join()
    assert order == ["first", "second"]
    assert locks.holder("s") is None
