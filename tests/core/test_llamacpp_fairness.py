"""Chats keep getting tokens while a long prompt is read (engine/backends/llamacpp_pacing.py).

Real generation on the packaged model. Order is counted in events, not time: the consumers of both
chats run on one event loop and append to one list as their events arrive.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util

import pytest

from jupyter_chat_ext.engine.backends import llamacpp_pacing
from jupyter_chat_ext.engine.backends.llamacpp_lanes import Slot
from jupyter_chat_ext.engine.backends.llamacpp_loop import Built
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)

#: its greedy answer runs the whole 24 tokens
SHORT = [{"role": "user", "content": "Count from one to thirty, in words."}]
#: ~2,700 tokens: read in chunks of MIN_CHUNK (16) it takes ~170 steps, in full chunks 6
LONG = [
    {
        "role": "user",
        "content": "Some words to read first about a lighthouse. " * 300 + "Name the capital of Italy.",
    }
]
GREEDY = {"max_tokens": 24, "temperature": 0}
#: the long chat's answer is its first sentence, compared without the whitespace after it:
#: llama.cpp's CPU kernels are not batch invariant, so a prompt read 16 tokens a step gives logits
#: within rounding of one read 512 at a time, and after "Rome." a near tie (end of text, "\n" or
#: a blank line and the sentence again) went either way
LONG_GREEDY = {"max_tokens": 8, "temperature": 0}


def new_engine(shared_settings: Settings) -> Engine:
    eng = Engine(dataclasses.replace(shared_settings, backend="llamacpp", n_threads=2))  # type: ignore[arg-type]
    eng.load(PACKAGED_CHAT_ID)
    return eng


async def run_together(eng: Engine) -> tuple[list[str], dict, dict]:
    """Both chats at once; the arrival order of their token events ("long"/"short") and the ends."""
    order: list[str] = []
    ends: dict[str, dict] = {}

    async def chat(name: str, messages: list[dict[str, str]], opts: dict) -> None:
        async for ev in eng.stream(None, messages, opts):
            if ev["type"] == "token":
                order.append(name)
            ends[name] = ev

    # the long chat first: its prompt is being read when the short one starts decoding
    await asyncio.gather(chat("long", LONG, LONG_GREEDY), chat("short", SHORT, GREEDY))
    return order, ends["long"], ends["short"]


def answers_alone(shared_settings: Settings) -> tuple[str, str]:
    eng = new_engine(shared_settings)  # a fresh engine: no cached prefix of the long prompt
    try:
        return eng.generate(None, LONG, LONG_GREEDY)["text"], eng.generate(None, SHORT, GREEDY)["text"]
    finally:
        eng.close()


async def test_a_short_chat_gets_its_tokens_while_a_long_prompt_is_read(
    shared_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    long_alone, short_alone = answers_alone(shared_settings)
    # the smallest chunks whatever this machine's speed, so the count below does not depend on it
    monkeypatch.setattr(llamacpp_pacing, "STEP_BUDGET_S", 1e-9)
    eng = new_engine(shared_settings)
    try:
        order, long_end, short_end = await run_together(eng)
        stats = eng.stats()[PACKAGED_CHAT_ID]
    finally:
        eng.close()
    assert long_end["type"] == short_end["type"] == "done"
    assert long_end["metrics"]["prompt_tokens"] > 2000
    n_short = short_end["metrics"]["completion_tokens"]
    assert n_short == GREEDY["max_tokens"]
    # every short token came while the long prompt was still being read (in full 512-token chunks
    # it is read in 6 steps, so at most ~6 short tokens could come first)
    assert order.index("long") >= n_short, order
    # every step after the short chat's first token (its prompt read beside the long one's first
    # chunk) left the long prompt partly unread
    assert stats["prefill_capped_steps"] >= n_short - 1
    # and neither answer changed: the same greedy answers as each alone
    assert short_end["text"] == short_alone and short_alone.strip()
    assert long_end["text"].strip() == long_alone.strip() and "Rome" in long_alone


async def test_with_no_cap_the_long_prompt_holds_the_short_chat_back(
    shared_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above fails without the pacer: the same run uncapped (the former behaviour)."""
    monkeypatch.setattr(llamacpp_pacing, "STEP_BUDGET_S", None)
    eng = new_engine(shared_settings)
    try:
        order, long_end, short_end = await run_together(eng)
    finally:
        eng.close()
    assert long_end["type"] == short_end["type"] == "done"
    assert short_end["metrics"]["completion_tokens"] == GREEDY["max_tokens"]
    assert order.index("long") < GREEDY["max_tokens"] // 2, order


async def second_chat_while_first_decodes(eng: Engine) -> tuple[dict, dict]:
    """SHORT starts decoding; a second short chat is asked once the first token is out."""
    ends: dict[str, dict] = {}
    second: list[asyncio.Task] = []

    async def chat(name: str, messages: list[dict[str, str]]) -> None:
        async for ev in eng.stream(None, messages, GREEDY):
            if name == "first" and ev["type"] == "token" and not second:
                second.append(asyncio.ensure_future(chat("second", QUESTION)))
            ends[name] = ev

    await chat("first", SHORT)
    await asyncio.gather(*second)
    return ends["first"], ends["second"]


#: ~40 tokens with the template: more than MIN_CHUNK, at most WHOLE_PROMPT
QUESTION = [{"role": "user", "content": "Name three colours of the rainbow, one per line, no more."}]


@pytest.mark.parametrize("whole_prompt", [llamacpp_pacing.WHOLE_PROMPT, 0])
async def test_a_short_question_beside_a_decoding_chat_is_read_whole(
    shared_settings: Settings, monkeypatch: pytest.MonkeyPatch, whole_prompt: int
) -> None:
    """A new chat's short prompt is read in one step beside the decoding chats, however small the
    step budget (only long prompts are cut); with WHOLE_PROMPT 0 it is cut into MIN_CHUNK pieces."""
    eng = new_engine(shared_settings)
    try:
        question_alone = eng.generate(None, QUESTION, GREEDY)["text"]
    finally:
        eng.close()
    monkeypatch.setattr(llamacpp_pacing, "STEP_BUDGET_S", 1e-9)  # MIN_CHUNK a step for long prompts
    monkeypatch.setattr(llamacpp_pacing, "WHOLE_PROMPT", whole_prompt)
    eng = new_engine(shared_settings)
    try:
        first, second = await second_chat_while_first_decodes(eng)
        stats = eng.stats()[PACKAGED_CHAT_ID]
    finally:
        eng.close()
    assert first["type"] == second["type"] == "done"
    read = second["metrics"]["prompt_tokens"] - second["metrics"]["cached_prompt_tokens"]
    assert llamacpp_pacing.MIN_CHUNK < read <= 128, read  # (128: WHOLE_PROMPT as shipped)
    if whole_prompt:
        assert stats["prefill_whole_reads"] >= 1 and stats["prefill_capped_steps"] == 0, stats
    else:
        assert stats["prefill_whole_reads"] == 0 and stats["prefill_capped_steps"] >= 1, stats
    assert second["text"] == question_alone and question_alone.strip()


def test_the_allowance_follows_the_measured_reading_speed() -> None:
    pacer = llamacpp_pacing.PrefillPacer(512, budget_s=0.1)
    assert pacer.allowance(decoding=False) is None  # nobody waits: full chunks
    assert pacer.allowance(decoding=True) == llamacpp_pacing.MIN_CHUNK  # nothing measured yet
    pacer.measured(n_tokens=40, n_prompt=32, seconds=0.040)  # 1 ms a token
    assert pacer.allowance(decoding=True) == 96  # 0.1 s / 1 ms = 100, rounded down to 16
    assert pacer.whole(40, seated=40) and pacer.whole(llamacpp_pacing.WHOLE_PROMPT, seated=4000) is False
    assert pacer.whole(llamacpp_pacing.WHOLE_PROMPT, seated=llamacpp_pacing.WHOLE_PROMPT)
    assert pacer.whole(llamacpp_pacing.WHOLE_PROMPT + 1, seated=llamacpp_pacing.WHOLE_PROMPT + 1) is False
    pacer.measured(n_tokens=8, n_prompt=0, seconds=5.0)  # a decode-only step says nothing
    assert pacer.allowance(decoding=True) == 96
    for _ in range(20):
        pacer.measured(n_tokens=512, n_prompt=512, seconds=0.0512)  # 0.1 ms a token: capped at n_batch
    assert pacer.allowance(decoding=True) == 512
    for _ in range(20):
        pacer.measured(n_tokens=32, n_prompt=32, seconds=3.2)  # a slow model: never below MIN_CHUNK
    assert pacer.allowance(decoding=True) == llamacpp_pacing.MIN_CHUNK


class BatchOnlyLane:
    """What ``DecodeLoop._build`` reads of a lane: its batch size and its running slots."""

    def __init__(self, slots: list[Slot], n_batch: int = 512) -> None:
        self.slots, self.n_batch = slots, n_batch

    def active(self) -> list[Slot]:
        return [s for s in self.slots if s.req is not None]


def build_once(slots_spec: list[tuple[int, int, bool]], room: int) -> tuple[Built, list[Slot]]:
    """One capped step's batch (no model: ``_build`` only fills a llama_batch) for slots given as
    (pending, seated, decoding); the decoding slots' next token goes first."""
    from jupyter_chat_ext.engine.backends import llamacpp_native as native
    from jupyter_chat_ext.engine.backends.llamacpp_loop import DecodeLoop

    loop = DecodeLoop.__new__(DecodeLoop)  # no thread, no context
    loop.ll = native.lib()
    loop.batch = loop.ll.llama_batch_init(512, 0, 1)
    loop.pacer = llamacpp_pacing.PrefillPacer(512, budget_s=0.05)
    lane = BatchOnlyLane([])
    for seq, (pending, seated, decoding) in enumerate(slots_spec):
        lane.slots.append(
            Slot(
                seq=seq,
                lane=lane,  # type: ignore[arg-type]
                req=object(),  # type: ignore[arg-type]
                pending=list(range(pending)),
                seated=seated,
                last=7 if decoding else None,
            )
        )
    try:
        whole_room = max(room, llamacpp_pacing.WHOLE_STEP)
        return loop._build(lane, room, whole_room), lane.slots  # type: ignore[arg-type]
    finally:
        loop.ll.llama_batch_free(loop.batch)


def test_short_questions_arriving_together_are_read_whole_within_one_steps_allowance() -> None:
    # three ~40-token questions beside a decoding chat: all three whole, nothing left unread
    built, _ = build_once([(0, 30, True), (40, 40, False), (41, 41, False), (39, 39, False)], room=16)
    assert (built.read, built.whole, built.cut) == (120, 3, False)
    # seven 100-token questions: two whole a step (the step's whole reads stay within
    # max(allowance, WHOLE_STEP)); the others wait untouched, still to be read whole later
    spec = [(0, 30, True)] + [(100, 100, False)] * 7
    built, slots = build_once(spec, room=16)
    assert built.read == 200 and built.whole == 2 and built.cut
    assert sum(1 for s in slots[1:] if len(s.pending) == s.seated == 100) == 7  # _build reads, never pops
    # a long prompt's last 10 tokens fit the allowance: read, and nothing was left unread
    built, _ = build_once([(0, 30, True), (10, 4000, False)], room=16)
    assert (built.read, built.whole, built.cut) == (10, 0, False)
    # a long prompt beside a decoding chat: cut to the allowance
    built, _ = build_once([(0, 30, True), (3000, 3000, False)], room=16)
    assert (built.read, built.whole, built.cut) == (16, 0, True)
