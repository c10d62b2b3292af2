"""Turns under load, with the real model and a real DuckDB file: a refused turn writes nothing,
a huge history does not block the event loop, stored token counts spare the tokenizer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from jupyter_chat_ext.chat.prompt import HistoryItem, build_prompt, history_items
from jupyter_chat_ext.chat.service import ChatService
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.errors import Busy
from jupyter_chat_ext.settings import Settings
from jupyter_chat_ext.store.store import Store

STORY = "Write a long story about a dragon who learns to bake bread."


async def collect(gen: Any) -> list[dict[str, Any]]:
    return [event async for event in gen]


async def wait_until(check: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


@pytest.fixture
async def small_queue(shared_settings: Settings, tmp_path: Path) -> AsyncIterator[ChatService]:
    """A service whose model decodes one request at a time and lets one more wait."""
    settings = Settings(
        data_dir=tmp_path / "q",
        model_cache_dir=shared_settings.model_cache_dir,
        max_queue=1,
        max_batch_size=1,
    )
    engine = Engine(settings)
    svc = ChatService(Store(settings.db_path), engine, settings)
    await asyncio.to_thread(engine.load, settings.default_model)
    yield svc
    await asyncio.to_thread(svc.close)


async def test_a_refused_turn_writes_nothing(small_queue: ChatService) -> None:
    svc = small_queue
    model = svc.engine.resolve(None)
    busy = [svc.create_session() for _ in range(2)]
    # one turn decoding, one waiting: the queue (max_queue=1) is full
    running = [asyncio.create_task(collect(svc.chat(s["id"], STORY, {"max_tokens": 200}))) for s in busy]
    await wait_until(lambda: svc.engine.get_model(model).get("queue_depth", 0) >= 1)
    refused = svc.create_session()
    with pytest.raises(Busy) as err:
        await collect(svc.chat(refused["id"], "Hello?", {"max_tokens": 4}))
    assert err.value.status == 429 and err.value.code == "busy"
    assert svc.list_messages(refused["id"]) == []
    assert svc.get_session(refused["id"])["message_count"] == 0
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    # the turns that were let in kept their rows (user + the interrupted answer)
    for s in busy:
        assert [m["role"] for m in svc.list_messages(s["id"])] == ["user", "assistant"]


async def test_a_burst_leaves_rows_only_for_the_turns_it_served(small_queue: ChatService) -> None:
    svc = small_queue
    sessions = [svc.create_session() for _ in range(6)]
    # all six pass the early capacity check together; the engine refuses some at submit, and
    # those turns take back what they wrote before any event reached the client
    results = await asyncio.gather(
        *(collect(svc.chat(s["id"], "Name a colour.", {"max_tokens": 4})) for s in sessions),
        return_exceptions=True,
    )
    served = refused = 0
    for s, result in zip(sessions, results, strict=True):
        rows = svc.list_messages(s["id"])
        if isinstance(result, Busy):
            refused += 1
            assert rows == [] and svc.get_session(s["id"])["message_count"] == 0
        else:
            assert not isinstance(result, BaseException), result
            served += 1
            assert result[-1]["type"] == "done" and len(rows) == 2
    assert served >= 1 and served + refused == 6


class LagMeter:
    """The event loop's responsiveness: how late a 10 ms ticker wakes up, at worst."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - before - 0.01)
            self.ticks += 1

    def __enter__(self) -> LagMeter:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


@pytest.fixture
async def small_context(shared_settings: Settings, tmp_path: Path) -> AsyncIterator[ChatService]:
    """A service whose model sees 1024 tokens: a full prompt prefills in about a second here."""
    settings = Settings(
        data_dir=tmp_path / "c", model_cache_dir=shared_settings.model_cache_dir, context_budget=1024
    )
    engine = Engine(settings)
    svc = ChatService(Store(settings.db_path), engine, settings)
    await asyncio.to_thread(engine.load, settings.default_model)
    yield svc
    await asyncio.to_thread(svc.close)


async def test_the_loop_stays_responsive_over_a_huge_history(small_context: ChatService) -> None:
    svc = small_context
    s = svc.create_session()
    # a 10 MB message and 120 messages without stored token counts (as an import leaves them)
    svc.store.add_message(s["id"], "user", "lorem ipsum dolor sit amet " * 400_000)
    svc.store.add_message(s["id"], "assistant", "Noted.")
    for i in range(60):
        svc.store.add_message(s["id"], "user", f"Question {i}: " + "tell me about rivers and seas " * 8)
        svc.store.add_message(s["id"], "assistant", f"Answer {i}: " + "rivers flow into the sea " * 8)
    with LagMeter() as lag:
        events = await collect(svc.chat(s["id"], "Summarise our talk.", {"max_tokens": 4}))
    assert events[-1]["type"] == "done" and lag.ticks > 0
    # a responsiveness bound, not a benchmark: store and tokenizer work ran on worker threads
    assert lag.worst < 0.5, f"the event loop stalled for {lag.worst:.2f} s"


def test_stored_counts_are_used_and_only_missing_ones_counted(engine: Engine) -> None:
    model = engine.resolve(None)
    counted: list[str] = []

    def count(text: str) -> int:
        counted.append(text)
        return engine.count_tokens(model, text)

    def render(messages: list[dict[str, str]]) -> str:
        return engine.render_prompt(model, messages)

    history = [
        HistoryItem("user", "An old question about rivers.", 10**6),  # a stored count: too big
        HistoryItem("assistant", "An old answer.", 4),
        HistoryItem("user", "Where do rivers go?", 6),
        HistoryItem("assistant", "Into the sea, mostly.", None),  # no stored count
    ]
    prompt = build_prompt(
        system="Be brief.",
        history=history,
        user="And lakes?",
        count_text=count,
        render=render,
        context_length=2048,
        reserve=64,
    )
    # the stored counts decided: the "huge" message (and the answer left dangling) were dropped
    assert prompt.dropped == 2
    assert "Where do rivers go?" in prompt.text and "old question" not in prompt.text
    # only the new message, the system prompt, the message without a count and the final prompt
    # were tokenized; history with stored counts never was
    assert sorted(counted) == sorted(["And lakes?", "Be brief.", "Into the sea, mostly.", prompt.text])
    assert prompt.tokens == engine.count_tokens(model, prompt.text)
    assert prompt.text == engine.render_prompt(model, prompt.messages)


def test_history_uses_the_newest_version_of_each_answer() -> None:
    def msg(mid: int, role: str, content: str, parent: int | None = None, status: str = "complete") -> dict:
        return {
            "id": mid,
            "role": role,
            "content": content,
            "parent_id": parent,
            "status": status,
            "tokens": 3,
        }

    stored = [
        msg(1, "user", "Q1"),
        msg(2, "assistant", "A1 v1", 1),
        msg(3, "assistant", "A1 v2", 1),
        msg(4, "user", "Q2"),
        msg(5, "assistant", "A2 partial", 4, "interrupted"),
        msg(6, "user", "Q3"),
        msg(7, "assistant", "A3 failed", 6, "error"),
    ]
    items = history_items(stored)
    assert [(i.role, i.content) for i in items] == [
        ("user", "Q1"),
        ("assistant", "A1 v2"),
        ("user", "Q2"),
        ("assistant", "A2 partial"),
        ("user", "Q3"),
    ]
