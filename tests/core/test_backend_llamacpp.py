"""The packaged GGUF through the llama.cpp backend: real generation with a few tokens each.

Seeds reproduce, stop strings cut, cancel stops decoding within a step, concurrent chats share
decode steps (batch stats), a follow-up turn reuses the KV of the first, a truncated or non-GGUF
file is a clear error that does not take the engine down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
from remote_fixtures import packaged_gguf

from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.errors import ModelError, NotFound, PayloadTooLarge, Unavailable
from jupyter_chat_ext.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)

# the 135M model answers this phrasing correctly as Q4_1 and as its Q8_0 CPU copy (and "What is
# the capital of France?" wrongly, in bare llama-cpp-python too): greedy answers of a model this
# small flip with the encoding of its weights, so a phrasing is kept that both get right
Q = [{"role": "user", "content": "Name the capital of France."}]


@pytest.fixture(scope="module")
def lengine(shared_settings: Settings) -> Iterator[Engine]:
    eng = Engine(dataclasses.replace(shared_settings, backend="llamacpp", n_threads=1))
    eng.load(PACKAGED_CHAT_ID)
    yield eng
    eng.close()


def stats(eng: Engine) -> dict:
    return eng.stats()[PACKAGED_CHAT_ID]


def test_loads_with_llamacpp_and_answers(lengine: Engine) -> None:
    info = lengine.get_model(PACKAGED_CHAT_ID)
    assert info["backend"] == "llamacpp" and info["state"] == "loaded" and info["device"] == "cpu"
    # one context length, loading or loaded: the model's own (the KV pool grows to it on demand)
    assert info["context_length"] == 8192 == lengine.registry.get(PACKAGED_CHAT_ID).context_length
    assert info["gpu_layers"] == 0  # n_gpu_layers "auto" on this CPU build: nothing offloaded
    # which llama.cpp serves: make install's build says so in its version (tools/llama_build.py)
    assert stats(lengine)["library"] == f"llama-cpp-python {version('llama-cpp-python')}"
    caps = lengine.capabilities(None)
    assert caps["backend"] == "llamacpp" and caps["batching"] is True and caps["fim"] is False
    done = lengine.generate(None, Q, {"max_tokens": 16})
    assert "Paris" in done["text"]
    m = done["metrics"]
    assert m["prompt_tokens"] > 10 and 1 <= m["completion_tokens"] <= 16 and m["model"] == PACKAGED_CHAT_ID
    prompt = lengine.render_prompt(None, Q)
    assert prompt.startswith("<|im_start|>system") and prompt.endswith("<|im_start|>assistant\n")
    assert lengine.count_prompt_tokens(None, Q) == m["prompt_tokens"]


def test_streaming_order_and_length(lengine: Engine) -> None:
    msgs = [{"role": "user", "content": "Count from 1 to 20."}]
    events = list(lengine.generate_iter(None, msgs, {"max_tokens": 24}))
    assert [e["type"] for e in events][-1] == "done"
    assert "".join(e["text"] for e in events[:-1]) == events[-1]["text"]
    assert events[-1]["finish_reason"] == "length" and events[-1]["metrics"]["completion_tokens"] == 24


def test_seeded_sampling_is_reproducible(lengine: Engine) -> None:
    opts = {"max_tokens": 20, "temperature": 1.0, "top_p": 0.95, "top_k": 40, "seed": 1234}
    first = lengine.generate(None, Q, opts)
    second = lengine.generate(None, Q, opts)
    assert first["text"] == second["text"] and first["metrics"]["seed"] == 1234
    others = {lengine.generate(None, Q, {**opts, "seed": s})["text"] for s in (1, 2, 3)}
    assert len(others | {first["text"]}) > 1


def test_stop_sequences(lengine: Engine) -> None:
    full = lengine.generate(None, Q, {"max_tokens": 16})["text"]
    assert " is " in full
    done = lengine.generate(None, Q, {"max_tokens": 16, "stop": [" is "]})
    assert done["finish_reason"] == "stop" and done["text"] == full[: full.index(" is ")]


def test_cancel_stops_decoding(lengine: Engine) -> None:
    rt = lengine.runtime(None)
    it = lengine.generate_iter(None, [{"role": "user", "content": "Write a long story about a dragon."}],
                               {"max_tokens": 400})  # fmt: skip
    got = [next(it)["text"] for _ in range(3)]
    it.close()
    deadline = time.monotonic() + 10
    while rt.active_count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rt.active_count == 0
    steps = stats(lengine)["steps"]
    time.sleep(0.3)
    assert stats(lengine)["steps"] == steps and "".join(got).strip()


async def test_concurrent_chats_decode_together(lengine: Engine) -> None:
    prompts = ["Name a fruit.", "Write a haiku about snow.", "What is 2+2?", "Say hello in French."]
    msgs = [[{"role": "user", "content": p}] for p in prompts]
    opts = {"max_tokens": 12}
    solo = [lengine.generate(None, m, opts) for m in msgs]
    before = stats(lengine)

    async def run(m: list[dict[str, str]]) -> dict:
        last: dict = {}
        async for ev in lengine.stream(None, m, opts):
            last = ev
        return last

    together = await asyncio.gather(*(run(m) for m in msgs))
    after = stats(lengine)
    assert all(t["type"] == "done" for t in together)
    steps = after["steps"] - before["steps"]
    seqs = after["mean_batch"] * after["steps"] - before["mean_batch"] * before["steps"]
    assert seqs / max(1, steps) > 1.5  # several chats per decode step, not one after another
    # each answer is its own (batched kernels may round differently from solo ones, so greedy
    # texts can drift late; what each answer is about may not)
    for word, s, t in zip(["fruit", "snow", "4", "bonjour"], solo, together, strict=True):
        assert word in s["text"].lower() and word in t["text"].lower()
    assert len({t["text"] for t in together}) == 4


def test_follow_up_turn_reuses_the_kv_cache(lengine: Engine) -> None:
    first = lengine.generate(None, Q, {"max_tokens": 12})
    turn2 = [*Q, {"role": "assistant", "content": first["text"]}, {"role": "user", "content": "And Germany?"}]
    reused = stats(lengine)["tokens_reused"]
    second = lengine.generate(None, turn2, {"max_tokens": 8})
    cached = second["metrics"]["cached_prompt_tokens"]
    # the whole first prompt (and most of the answer) was already in the KV cache
    assert cached >= first["metrics"]["prompt_tokens"]
    assert stats(lengine)["tokens_reused"] - reused == cached
    assert second["metrics"]["prompt_tokens"] > cached


async def test_raw_completion_and_suffix_without_fim(lengine: Engine) -> None:
    events = [e async for e in lengine.stream_text(None, "The capital of France is", {"max_tokens": 4})]
    assert events[-1]["type"] == "done" and "Paris" in events[-1]["text"]
    events = [e async for e in lengine.stream_text(None, "def add(a, b):", {"max_tokens": 4}, suffix="\n")]
    assert events[-1]["type"] == "done"  # no FIM tokens in SmolLM2: prefix-only completion


def test_prompt_too_long_is_refused(lengine: Engine) -> None:
    with pytest.raises(PayloadTooLarge):
        lengine.generate(None, [{"role": "user", "content": "word " * 9000}], {"max_tokens": 2})


def test_kv_pool_grows_for_a_prompt_longer_than_it(shared_settings: Settings, monkeypatch) -> None:
    """``kv_layout="unified"``: one request may use the model's whole context, the pool is rebuilt
    bigger when it needs it (the default layout's long lane grows the same way)."""
    from jupyter_chat_ext.engine.backends import llamacpp

    monkeypatch.setattr(llamacpp, "DEFAULT_KV_CELLS", 256)  # a small start, so a short prompt outgrows it
    eng = Engine(dataclasses.replace(shared_settings, backend="llamacpp", n_threads=1, kv_layout="unified"))
    try:
        eng.load(PACKAGED_CHAT_ID)
        assert eng.context_length(None) == 8192 and stats(eng)["kv_cells"] == 256
        assert "Paris" in eng.generate(None, Q, {"max_tokens": 8})["text"]
        long = [{"role": "user", "content": "Some words to read first. " * 50 + Q[0]["content"]}]
        done = eng.generate(None, long, {"max_tokens": 8})
        assert done["metrics"]["prompt_tokens"] > 256 and done["metrics"]["completion_tokens"] >= 1
        assert stats(eng)["kv_cells"] == 1024  # at least doubled, in steps of 1024
        assert "Paris" in eng.generate(None, Q, {"max_tokens": 8})["text"]  # still serving after the rebuild
    finally:
        eng.close()


async def test_kv_pool_grows_under_running_chats(shared_settings: Settings, monkeypatch) -> None:
    """Chats that fill the pool together are re-read into a doubled pool, none of them refused."""
    from jupyter_chat_ext.engine.backends import llamacpp

    monkeypatch.setattr(llamacpp, "DEFAULT_KV_CELLS", 256)
    eng = Engine(
        dataclasses.replace(
            shared_settings, backend="llamacpp", n_threads=1, max_batch_size=3, kv_layout="unified"
        )
    )
    try:
        eng.load(PACKAGED_CHAT_ID)

        async def run(i: int) -> dict:
            msgs = [{"role": "user", "content": f"Story {i}: " + "a lighthouse, a storm, a ship. " * 12}]
            return [ev async for ev in eng.stream(None, msgs, {"max_tokens": 40})][-1]

        done = await asyncio.gather(*(run(i) for i in range(3)))  # 3 x (~130 + 40) > 256 cells
        assert [d["type"] for d in done] == ["done"] * 3, done
        assert all(d["metrics"]["completion_tokens"] >= 1 for d in done)
        assert stats(eng)["kv_cells"] >= 512
    finally:
        eng.close()


async def test_split_kv_gives_each_chat_its_own_slice(shared_settings: Settings) -> None:
    """``kv_unified=False``: llama-server's layout, each of the slots owns budget / slots cells."""
    settings = dataclasses.replace(
        shared_settings,
        backend="llamacpp",
        n_threads=1,
        kv_unified=False,
        max_batch_size=2,
        context_budget=1024,
    )
    eng = Engine(settings)
    try:
        eng.load(PACKAGED_CHAT_ID)
        assert eng.context_length(None) == 512  # 1024 cells, 2 chats
        assert eng.stats()[PACKAGED_CHAT_ID]["kv_unified"] is False

        async def run(m: list[dict[str, str]]) -> dict:
            return [ev async for ev in eng.stream(None, m, {"max_tokens": 8})][-1]

        done = await asyncio.gather(run(Q), run([{"role": "user", "content": "Say hello in French."}]))
        assert "Paris" in done[0]["text"] and "Bonjour" in done[1]["text"]
        with pytest.raises(PayloadTooLarge):  # over one chat's slice, though the pool has room
            eng.generate(None, [{"role": "user", "content": "word " * 600}], {"max_tokens": 2})
    finally:
        eng.close()


def test_truncated_and_non_gguf_files_are_clear_errors(shared_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    with packaged_gguf().open("rb") as src:
        (folder / "truncated.gguf").write_bytes(src.read(12_000_000))  # header intact, weights cut
    (folder / "notes.gguf").write_text("not a model at all")
    s = dataclasses.replace(shared_settings, model_dirs=[folder], backend="llamacpp", scan_hf_cache=False)
    eng = Engine(s)
    try:
        with pytest.raises(NotFound):  # never listed: the registry names the problem instead
            eng.get_model("notes")
        assert any("notes.gguf" in p["path"] for p in eng.registry.problems)
        assert eng.get_model("truncated")["backend"] == "llamacpp"
        with pytest.raises(ModelError, match=r"llama\.cpp could not load"):
            eng.load("truncated")
        with pytest.raises(Unavailable) as err:
            eng.generate("truncated", Q, {"max_tokens": 2})
        assert err.value.code == "model_load_failed"
        assert eng.generate(None, Q, {"max_tokens": 3})["metrics"]["completion_tokens"] >= 1  # still serving
    finally:
        eng.close()
