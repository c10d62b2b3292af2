"""The default KV layout of the llama.cpp backend (``kv_layout="auto"``), on the packaged model.

A short lane (split: 8 slots of 256 cells at load, growing to 1024) serves short chats at
llama-server's speed; a long lane (one unified pool, made on demand) takes what a short slot cannot
hold, up to the model's context. Real generation, small ``max_tokens``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import time
from collections.abc import Iterator

import pytest

from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.errors import PayloadTooLarge
from jupyter_chat_ext.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)

Q = [{"role": "user", "content": "Name the capital of France."}]
#: ~2,700 tokens: more than a short slot's 1024, less than the model's 8192
LONG = [{"role": "user", "content": "Some words to read first about a lighthouse. " * 300 + Q[0]["content"]}]


def new_engine(shared_settings: Settings, **changes: object) -> Engine:
    eng = Engine(dataclasses.replace(shared_settings, backend="llamacpp", n_threads=2, **changes))  # type: ignore[arg-type]
    eng.load(PACKAGED_CHAT_ID)
    return eng


@pytest.fixture(scope="module")
def auto_engine(shared_settings: Settings) -> Iterator[Engine]:
    eng = new_engine(shared_settings)
    yield eng
    eng.close()


def stats(eng: Engine) -> dict:
    return eng.stats()[PACKAGED_CHAT_ID]


def lanes(eng: Engine) -> dict[str, dict]:
    return {lane["name"]: lane for lane in stats(eng)["kv_lanes"]}


async def answer(eng: Engine, messages: list[dict[str, str]], opts: dict) -> dict:
    return [ev async for ev in eng.stream(None, messages, opts)][-1]


async def test_default_layout_serves_eight_short_chats_in_the_split_lane(auto_engine: Engine) -> None:
    s = stats(auto_engine)
    assert s["kv_layout"] == "auto" and s["kv_cells"] == 2048  # the memory of the former default
    assert auto_engine.context_length(None) == 8192  # any one chat may use the model's context
    short = lanes(auto_engine)["short"]
    assert short["unified"] is False and short["seqs"] == 8 and short["cells_per_seq"] == 256
    before = stats(auto_engine)
    prompts = [f"Say a word about the number {i}." for i in range(8)]
    done = await asyncio.gather(*(answer(auto_engine, [{"role": "user", "content": p}], {"max_tokens": 12})
                                  for p in prompts))  # fmt: skip
    assert [d["type"] for d in done] == ["done"] * 8
    assert all(d["metrics"]["completion_tokens"] >= 1 for d in done)
    after = stats(auto_engine)
    seqs = after["mean_batch"] * after["steps"] - before["mean_batch"] * before["steps"]
    assert seqs / max(1, after["steps"] - before["steps"]) > 2  # decoded together
    assert lanes(auto_engine)["long"]["cells"] == 0  # short chats never made the long lane


def test_a_long_prompt_is_answered_and_its_next_turn_reuses_the_long_lane(auto_engine: Engine) -> None:
    first = auto_engine.generate(None, LONG, {"max_tokens": 8})
    assert first["type"] == "done" and "Paris" in first["text"]
    assert first["metrics"]["prompt_tokens"] > 2 * 1024
    long = lanes(auto_engine)["long"]
    assert long["unified"] is True and long["cells"] >= first["metrics"]["prompt_tokens"]
    turn2 = [
        *LONG,
        {"role": "assistant", "content": first["text"]},
        {"role": "user", "content": "And Germany?"},
    ]
    second = auto_engine.generate(None, turn2, {"max_tokens": 8})
    assert second["metrics"]["cached_prompt_tokens"] >= first["metrics"]["prompt_tokens"]
    assert lanes(auto_engine)["long"]["cells"] == long["cells"]  # no rebuild for the follow-up
    assert "Paris" in auto_engine.generate(None, Q, {"max_tokens": 8})["text"]  # short chats go on


async def test_short_and_long_chats_run_together(auto_engine: Engine) -> None:
    long_chat = [{"role": "user", "content": "A story about a storm at sea. " * 200 + "Summarise it."}]
    shorts = [[{"role": "user", "content": f"Name a colour, number {i}."}] for i in range(3)]
    done = await asyncio.gather(
        answer(auto_engine, long_chat, {"max_tokens": 24}),
        *(answer(auto_engine, m, {"max_tokens": 24}) for m in shorts),
    )
    assert [d["type"] for d in done] == ["done"] * 4, done
    assert done[0]["metrics"]["prompt_tokens"] > 1024 and all(
        d["metrics"]["completion_tokens"] >= 1 for d in done
    )
    assert auto_engine.runtime(None).active_count == 0


def test_cancel_and_close_with_two_lanes(shared_settings: Settings) -> None:
    eng = new_engine(shared_settings)
    try:
        rt = eng.runtime(None)
        story = [{"role": "user", "content": "Write a long story about a dragon."}]
        long_it = eng.generate_iter(None, LONG, {"max_tokens": 400})
        short_it = eng.generate_iter(None, story, {"max_tokens": 400})
        got = [next(long_it)["text"], next(short_it)["text"], next(short_it)["text"]]
        assert {k: v["active"] for k, v in lanes(eng).items()} == {"short": 1, "long": 1}
        long_it.close()
        short_it.close()
        deadline = time.monotonic() + 10
        while rt.active_count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert rt.active_count == 0 and "".join(got).strip()
        steps = stats(eng)["steps"]
        time.sleep(0.3)
        assert stats(eng)["steps"] == steps  # nothing decodes once both are cancelled
        # closing with a chat running in each lane ends both
        long_it = eng.generate_iter(None, LONG, {"max_tokens": 400})
        short_it = eng.generate_iter(None, story, {"max_tokens": 400})
        next(long_it), next(short_it)
    finally:
        eng.close()
    ends = [[e for e in it if e["type"] in ("done", "error")] for it in (long_it, short_it)]
    assert all(len(e) == 1 for e in ends), ends


async def test_a_chat_outgrowing_its_short_slot_moves_to_the_long_lane(
    shared_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_chat_ext.engine.backends import llamacpp_lanes

    monkeypatch.setattr(llamacpp_lanes, "SHORT_SEQ_CELLS_MAX", 256)  # short slots stay at 256 cells
    monkeypatch.setattr(llamacpp_lanes, "ANSWER_RESERVE", 8)  # so a 300-token answer starts short
    eng = new_engine(shared_settings)
    try:
        msgs = [{"role": "user", "content": "Write a very long story about dragons. " * 12}]
        opts = {"max_tokens": 160, "temperature": 1.0, "seed": 3}
        done, short_chat = await asyncio.gather(answer(eng, msgs, opts), answer(eng, Q, {"max_tokens": 8}))
        assert done["type"] == "done" and short_chat["type"] == "done" and "Paris" in short_chat["text"]
        m = done["metrics"]
        assert m["prompt_tokens"] + m["completion_tokens"] > 256  # past its short slot
        assert stats(eng)["kv_moved_to_long"] == 1 and lanes(eng)["long"]["cells"] > 0
    finally:
        eng.close()


def test_growth_that_does_not_fit_in_ram_is_a_clean_413(
    shared_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_chat_ext.engine.backends import llamacpp_lanes

    eng = new_engine(shared_settings)
    try:
        monkeypatch.setattr(llamacpp_lanes, "available_ram", lambda: 32 * 2**20)  # 32 MiB free
        with pytest.raises(PayloadTooLarge, match="RAM"):
            eng.generate(None, LONG, {"max_tokens": 4})
        assert lanes(eng)["long"]["cells"] == 0
        assert "Paris" in eng.generate(None, Q, {"max_tokens": 8})["text"]  # still serving
    finally:
        eng.close()


def test_explicit_layouts_keep_their_meaning(shared_settings: Settings) -> None:
    assert dataclasses.replace(shared_settings, kv_unified=True).kv_layout == "unified"  # type: ignore[arg-type]
    assert dataclasses.replace(shared_settings, kv_unified="False").kv_layout == "split"
    with pytest.raises(ValueError, match="kv_layout"):
        dataclasses.replace(shared_settings, kv_layout="paged")
    eng = new_engine(shared_settings, kv_layout="unified")
    try:
        assert [(lane["name"], lane["cells"]) for lane in stats(eng)["kv_lanes"]] == [("unified", 2048)]
        assert "Paris" in eng.generate(None, Q, {"max_tokens": 8})["text"]
    finally:
        eng.close()


async def test_more_slots_than_short_ones_run_in_the_long_lane(shared_settings: Settings) -> None:
    eng = new_engine(shared_settings, max_batch_size=10)
    try:
        short, long = stats(eng)["kv_lanes"]
        assert (short["seqs"], short["cells"], long["seqs"], long["cells"]) == (
            8,
            2048,
            10,
            0,
        )  # load: as before
        msgs = [[{"role": "user", "content": f"Say a word about the number {i}."}] for i in range(10)]
        done = await asyncio.gather(*(answer(eng, m, {"max_tokens": 6}) for m in msgs))
        assert [d["type"] for d in done] == ["done"] * 10
        assert lanes(eng)["long"]["cells"] > 0  # the two chats past the 8 short slots
    finally:
        eng.close()


def wait_for(check, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(check())


def test_an_idle_long_lane_is_freed_and_made_again(
    shared_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyter_chat_ext.engine.backends import llamacpp_lanes

    monkeypatch.setattr(llamacpp_lanes, "IDLE_FREE_S", 0.5)
    words = "Some words to read first about a lighthouse. " * 130
    longer = [{"role": "user", "content": words + Q[0]["content"]}]  # ~1,200 tokens
    eng = new_engine(shared_settings)
    try:
        it = eng.generate_iter(None, longer, {"max_tokens": 400, "temperature": 1.0, "seed": 1})
        next(it)
        time.sleep(1.0)  # longer than the idle time, with a chat running in the long lane
        assert lanes(eng)["long"]["cells"] > 0 and lanes(eng)["long"]["freed"] == 0
        it.close()
        short_before = lanes(eng)["short"]["cells"]
        # no chat in it for 0.5 s: freed, by the worker's own timer (nothing else runs meanwhile)
        assert wait_for(lambda: lanes(eng)["long"]["freed"] == 1)
        assert lanes(eng)["long"]["cells"] == 0 and stats(eng)["kv_cells"] == short_before
        assert lanes(eng)["short"]["freed"] == 0  # the lane made at load stays
        again = eng.generate(None, longer, {"max_tokens": 8})  # the next long chat makes it again
        assert again["metrics"]["prompt_tokens"] > 1024  # more than a short slot holds
        assert again["type"] == "done" and again["metrics"]["completion_tokens"] >= 1
        assert lanes(eng)["long"]["cells"] >= again["metrics"]["prompt_tokens"]
        assert again["metrics"]["cached_prompt_tokens"] == 0  # its cached prompt went with it
    finally:
        eng.close()
