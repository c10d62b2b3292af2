"""Engine through the transformers backend: registry, loading with the conversion cache,
generation, batching, bad input.

All generation uses the real packaged SmolLM2-135M-Instruct with a few tokens. The engine here is
pinned to ``backend="transformers"`` (the packaged GGUF would otherwise go to llama.cpp, tested in
test_backend_llamacpp.py), so these tests keep checking our own batcher.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.gguf_header import read_gguf_header
from jupyter_chat_ext.engine.options import GenerationOptions
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID, PACKAGED_EMBEDDING_ID, ModelRegistry
from jupyter_chat_ext.errors import Busy, InvalidInput, ModelError, NotFound, PayloadTooLarge, Unavailable
from jupyter_chat_ext.settings import Settings

Q = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def tf_settings(shared_settings: Settings) -> Settings:
    return dataclasses.replace(shared_settings, backend="transformers")


@pytest.fixture(scope="module")
def engine(tf_settings: Settings) -> Iterator[Engine]:
    """The packaged model on the transformers backend (overrides the shared fixture here)."""
    eng = Engine(tf_settings)
    eng.load(tf_settings.default_model)
    yield eng
    eng.close()


def test_registry_finds_packaged_models(settings: Settings) -> None:
    models = {m.id: m for m in ModelRegistry(settings).all()}
    chat = models[PACKAGED_CHAT_ID]
    assert (chat.kind, chat.source, chat.format) == ("chat", "packaged", "gguf")
    assert chat.parameters == 134_515_008  # 134.5 M, summed from the GGUF tensor shapes
    assert chat.context_length == 8192
    assert chat.chat_template is True
    assert chat.size_bytes > 90_000_000
    emb = models[PACKAGED_EMBEDDING_ID]
    assert (emb.kind, emb.format) == ("embedding", "hf")
    assert emb.parameters and 20_000_000 < emb.parameters < 25_000_000


def test_registry_local_folder_and_corrupt_file(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "broken.gguf").write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 7)
    (folder / "notgguf.gguf").write_bytes(b"hello world, not a model")
    hf = folder / "tiny-hf"
    hf.mkdir()
    (hf / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "max_position_embeddings": 512}')
    (hf / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    reg = ModelRegistry(Settings(data_dir=tmp_path / "d", model_dirs=[folder, tmp_path / "missing"]))
    models = {m.id: m for m in reg.all()}
    assert models["tiny-hf"].context_length == 512 and models["tiny-hf"].chat_template
    assert "broken" not in models and "notgguf" not in models
    problems = {Path(p["path"]).name: p["error"] for p in reg.problems}
    assert "not a GGUF file" in problems["notgguf.gguf"]
    assert "broken.gguf" in problems and "missing" in problems
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        reg.get("nope")


def test_gguf_header_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(ModelError, match="cannot read GGUF"):
        read_gguf_header(bad)


def test_load_corrupt_model_is_a_model_error(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    hf = folder / "corrupt"
    hf.mkdir(parents=True)
    (hf / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}')
    (hf / "model.safetensors").write_bytes(b"\x00" * 64)
    eng = Engine(Settings(data_dir=tmp_path / "d", model_dirs=[folder], scan_hf_cache=False))
    try:
        with pytest.raises(ModelError, match="could not load model 'corrupt'"):
            eng.load("corrupt")
        info = eng.get_model("corrupt")
        assert info["state"] == "error" and info["retry_in_s"] > 0
        # requests do not reload a model that just failed: 503 model_load_failed, no new load
        for _ in range(3):
            with pytest.raises(Unavailable, match="failed to load") as err:
                eng.generate("corrupt", Q, {"max_tokens": 2})
            assert err.value.code == "model_load_failed" and err.value.status == 503
            assert err.value.retry_after and err.value.retry_after > 1
        assert eng._slots["corrupt"].failures == 1
        # an explicit load tries again (and the backoff grows)
        with pytest.raises(ModelError):
            eng.load("corrupt")
        assert eng._slots["corrupt"].failures == 2
        assert eng.get_model("corrupt")["retry_in_s"] > 30
    finally:
        eng.close()


def test_load_unload_load_uses_the_cache(tf_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # loading reads local files only and leaves the process's Hub settings alone: it once set
    # HF_HUB_OFFLINE=1 for the whole server, and every model pull after it answered 503
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    eng = Engine(tf_settings)
    try:
        info = eng.load(PACKAGED_CHAT_ID)
        assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
        assert info["state"] == "loaded" and info["device"] == "cpu" and info["dtype"] == "bfloat16"
        assert info["backend"] == "transformers"
        assert eng.unload(PACKAGED_CHAT_ID)["state"] == "unloaded"
        again = eng.load(PACKAGED_CHAT_ID)
        assert again["state"] == "loaded"
        assert again["from_cache"] is True  # the GGUF conversion was reused, not redone
        assert eng.generate(None, Q, {"max_tokens": 4})["metrics"]["completion_tokens"] >= 1
    finally:
        eng.close()


def test_generates_a_real_answer(engine: Engine) -> None:
    done = engine.generate(None, Q, {"max_tokens": 16})
    assert "Paris" in done["text"]
    m = done["metrics"]
    assert m["prompt_tokens"] > 10 and 1 <= m["completion_tokens"] <= 16
    assert m["model"] == PACKAGED_CHAT_ID and m["device"] == "cpu" and m["ttft_s"] > 0


def test_streaming_order_and_text(engine: Engine) -> None:
    events = list(
        engine.generate_iter(None, [{"role": "user", "content": "Count from 1 to 20."}], {"max_tokens": 24})
    )
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"token"} and len(kinds) > 5
    assert "".join(e["text"] for e in events[:-1]) == events[-1]["text"]
    assert events[-1]["finish_reason"] == "length"
    assert events[-1]["metrics"]["completion_tokens"] == 24


def test_cancel_mid_stream_stops_generation(engine: Engine) -> None:
    batcher = engine._slots[PACKAGED_CHAT_ID].batcher
    it = engine.generate_iter(
        None, [{"role": "user", "content": "Write a long story about a dragon."}], {"max_tokens": 400}
    )
    got = [next(it)["text"] for _ in range(3)]
    it.close()  # the consumer goes away
    deadline = time.monotonic() + 10
    while batcher.active_count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert batcher.active_count == 0
    steps = batcher.steps
    time.sleep(0.3)
    assert batcher.steps == steps  # nothing decodes for the cancelled request any more
    assert "".join(got).strip()


def test_seeded_sampling_is_reproducible(engine: Engine) -> None:
    opts = {"max_tokens": 20, "temperature": 1.0, "top_p": 0.95, "seed": 1234}
    first = engine.generate(None, Q, opts)
    second = engine.generate(None, Q, opts)
    assert first["text"] == second["text"] and first["metrics"]["seed"] == 1234
    others = {engine.generate(None, Q, {**opts, "seed": s})["text"] for s in (1, 2, 3)}
    assert len(others | {first["text"]}) > 1  # the seed really drives the sampler


def test_stop_sequences(engine: Engine) -> None:
    full = engine.generate(None, Q, {"max_tokens": 16})["text"]
    assert " is " in full
    done = engine.generate(None, Q, {"max_tokens": 16, "stop": [" is "]})
    assert done["finish_reason"] == "stop"
    assert done["text"] == full[: full.index(" is ")]


def test_generation_options_validation() -> None:
    for bad in (
        {"temperature": -0.1},
        {"top_p": 0},
        {"top_k": -1},
        {"max_tokens": 0},
        {"max_tokens": "10"},
        {"seed": -1},
        {"stop": [""]},
        {"bogus": 1},
        {"temperature": float("nan")},
    ):
        with pytest.raises(InvalidInput):
            GenerationOptions.from_any(bad)
    assert GenerationOptions.from_any({"max_new_tokens": 5, "stop": "x"}).stop == ["x"]


def test_budget_is_the_one_max_tokens_check(engine: Engine) -> None:
    ctx = engine.context_length(None)
    budget = engine.budget(None, 64)
    assert (budget.context, budget.reserve, budget.prompt) == (ctx, 64, ctx - 64)
    # no max_tokens: the default answer length, at most half the context
    assert engine.budget(None, None).reserve == min(engine.settings.default_max_tokens, ctx // 2)
    assert engine.budget(None, ctx - 1).reserve == ctx // 2
    with pytest.raises(InvalidInput, match="above the model's context") as err:
        engine.budget(None, ctx)
    assert err.value.code == "invalid_option"


def test_bad_requests_are_typed_errors(engine: Engine) -> None:
    with pytest.raises(InvalidInput, match="above the model's context"):
        engine.generate(None, Q, {"max_tokens": 100_000})
    with pytest.raises(NotFound):
        engine.generate("no-such-model", Q, {"max_tokens": 2})
    with pytest.raises(InvalidInput, match="embedding model"):
        engine.generate(PACKAGED_EMBEDDING_ID, Q, {"max_tokens": 2})
    with pytest.raises(PayloadTooLarge, match="context"):
        engine.generate(None, [{"role": "user", "content": "word " * 9000}], {"max_tokens": 2})
    with pytest.raises(InvalidInput):
        engine.generate(None, [{"role": "wizard", "content": "hi"}], {"max_tokens": 2})


async def test_concurrent_requests_batch_and_do_not_mix(engine: Engine) -> None:
    prompts = ["Name a fruit.", "Write a haiku about snow.", "What is 2+2?", "Say hello in French."]
    msgs = [[{"role": "user", "content": p}] for p in prompts]
    opts = {"max_tokens": 12}
    solo = [engine.generate(None, m, opts) for m in msgs]
    batcher = engine._slots[PACKAGED_CHAT_ID].batcher
    steps0, sum0 = batcher.steps, batcher.batch_size_sum

    async def run(m: list[dict[str, str]]) -> dict:
        last: dict = {}
        async for ev in engine.stream(None, m, opts):
            last = ev
        return last

    together = await asyncio.gather(*(run(m) for m in msgs))
    assert all(t["type"] == "done" for t in together)
    mean_batch = (batcher.batch_size_sum - sum0) / max(1, batcher.steps - steps0)
    assert mean_batch > 1.5  # the requests were decoded together, not one after another
    tok = engine.tokenizer(None)
    for s, t in zip(solo, together, strict=True):
        # bf16 batch numerics may diverge late; the start of each answer must be its own
        assert tok(t["text"])["input_ids"][:4] == tok(s["text"])["input_ids"][:4]
    assert len({t["text"] for t in together}) == 4


def test_busy_queue_then_recovers(shared_settings: Settings, tmp_path: Path) -> None:
    s = Settings(
        data_dir=tmp_path / "d",
        model_cache_dir=shared_settings.model_cache_dir,
        max_queue=2,
        max_batch_size=1,
        backend="transformers",
    )
    eng = Engine(s)
    try:
        eng.load(PACKAGED_CHAT_ID)
        batcher = eng._slots[PACKAGED_CHAT_ID].batcher
        reqs = []
        with pytest.raises(Busy, match=r"queue .* is full"):
            for _ in range(6):  # 1 running + 2 waiting fit; the next one is refused
                _, req = eng._request(None, Q, {"max_tokens": 300}, lambda _e: None)
                reqs.append(batcher.submit(req))
        assert 2 <= len(reqs) <= 3  # max_queue waiting (+1 if the worker already admitted one)
        for r in reqs:
            r.cancel()
        deadline = time.monotonic() + 10
        while (batcher.active_count or batcher.queue_depth) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert eng.generate(None, Q, {"max_tokens": 3})["finish_reason"] in ("length", "stop")
    finally:
        eng.close()


def test_gguf_backend_choice_is_explained(tf_settings: Settings) -> None:
    from jupyter_chat_ext.engine import backends

    info = ModelRegistry(tf_settings).get(PACKAGED_CHAT_ID)
    name, notes = backends.choose(info, tf_settings)
    assert name == "transformers" and "dequantized" in notes[0]
    name, notes = backends.choose(info, dataclasses.replace(tf_settings, backend="auto"))
    if backends.llama_cpp_problem() is None:
        assert (name, notes) == ("llamacpp", [])
    else:  # no llama-cpp-python here: GGUF falls back, and the model's notes say why
        assert name == "transformers" and "llama-cpp-python is not usable" in notes[0]
    emb = ModelRegistry(tf_settings).get(PACKAGED_EMBEDDING_ID)
    assert backends.choose(emb, dataclasses.replace(tf_settings, backend="llamacpp"))[0] == "transformers"


def test_gguf_conversion_reports_real_progress(tmp_path: Path, tf_settings: Settings) -> None:
    """The one-time conversion moves the load bar tensor by tensor (it sat at 5 % for 17-30 s)."""
    import torch

    from jupyter_chat_ext.engine.backends.transformers.loader import _convert_gguf

    info = ModelRegistry(tf_settings).get(PACKAGED_CHAT_ID)
    seen: list[tuple[float, str]] = []
    _convert_gguf(info, tmp_path / "converted", torch.bfloat16, lambda f, m: seen.append((f, m)))
    tensor_steps = [f for f, m in seen if m.startswith("converting GGUF tensors (")]
    assert len(tensor_steps) > 100  # one report per tensor (~270 for the packaged model)
    assert tensor_steps == sorted(tensor_steps) and 0.1 <= tensor_steps[0] < tensor_steps[-1] < 0.65
    assert (tmp_path / "converted" / "config.json").is_file()
