"""The packaged MiniLM embedder: shape, normalisation, bf16 == fp32 in effect, semantics, laziness."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from jupyter_chat_ext.engine.embeddings import Embedder, packaged_model_dir
from jupyter_chat_ext.errors import InvalidInput

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome.",
    "The cat sits outside on the mat.",
    "Stock markets fell sharply after the announcement.",
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder(model_dir=None, device="cpu", dtype="auto")


def test_lazy_and_facts_without_loading():
    e = Embedder()
    assert e.model_id == "all-minilm-l6-v2"
    assert e.dim == 384
    assert e.max_tokens == 256
    assert not e.loaded
    assert e.model_dir == packaged_model_dir()


def test_shape_dtype_unit_norm_and_counters(embedder: Embedder):
    before_calls, before_texts = embedder.calls, embedder.texts_embedded
    vectors = embedder.embed(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.calls == before_calls + 1
    assert embedder.texts_embedded == before_texts + len(SENTENCES)
    assert embedder.embed([]).shape == (0, 384)
    assert embedder.calls == before_calls + 1  # an empty call does no work


def test_semantics_paraphrase_beats_unrelated(embedder: Embedder):
    v = embedder.embed(SENTENCES)
    sims = v @ v.T
    # the classic sentence-transformers example: ~0.755 for the two "eating" sentences
    assert 0.70 < sims[0, 1] < 0.80
    assert sims[0, 1] > sims[0, 2] + 0.5
    assert sims[0, 1] > sims[0, 4] + 0.5


def test_bf16_matches_fp32(embedder: Embedder):
    # "auto" picks bf16 only on CPUs with native bf16 (emulated bf16 measured 7-10x slower)
    from jupyter_chat_ext.engine.embeddings import _native_bf16

    embedder.embed(SENTENCES[:1])
    assert embedder.dtype == ("bfloat16" if _native_bf16() else "float32")
    fp32 = Embedder(dtype="float32")
    bf16 = Embedder(dtype="bfloat16")
    a = fp32.embed(SENTENCES)
    b = bf16.embed(SENTENCES)
    assert bf16.dtype == "bfloat16" and fp32.dtype == "float32"
    cos = (a * b).sum(axis=1)
    assert cos.min() > 0.999


def test_order_preserved_across_length_sorted_batches():
    small = Embedder(batch_size=2)
    texts = ["short", "a much longer sentence about the weather in spring", "mid length text", "x"]
    together = small.embed(texts)
    one_by_one = np.stack([small.embed([t])[0] for t in texts])
    # same rows, same order (bf16 padding differences stay tiny)
    assert ((together * one_by_one).sum(axis=1) > 0.999).all()


def test_long_text_is_truncated_not_an_error(embedder: Embedder):
    long_text = "word " * 2000
    assert embedder.count_tokens(long_text) > 1000
    assert embedder.embed([long_text]).shape == (1, 384)


def test_bad_input(embedder: Embedder):
    with pytest.raises(InvalidInput):
        embedder.embed("not a list")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        embedder.embed(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidInput):
        Embedder(dtype="float8").embed(["x"])


def test_thread_safe_concurrent_calls(embedder: Embedder):
    expected = embedder.embed(SENTENCES)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            results.append(embedder.embed(SENTENCES))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 4
    for r in results:
        np.testing.assert_allclose(r, expected, atol=1e-6)


def test_queries_run_single_threaded_without_changing_the_callers_threads(embedder: Embedder):
    import torch

    before = torch.get_num_threads()
    embedder.embed(["one short query"])
    embedder.embed([f"text {i}" for i in range(20)])
    assert torch.get_num_threads() == before  # the embedder's worker thread has its own setting
    embedder.unload()  # what Engine.unload/close call
    assert not embedder.loaded
    assert embedder.embed(["reloads after close"]).shape == (1, 384)


def test_bulk_batches_sorted_by_tokens_little_padding_same_vectors(embedder: Embedder):
    """A bulk job is sorted by token count (not characters: code and prose differ in characters per
    token) into batches of <= CPU_BATCH_TOKENS padded tokens, and gives each text its own vector."""
    from jupyter_chat_ext.engine.embeddings import CPU_BATCH_TOKENS

    prose = [("The harbour was quiet at dawn and the boats rocked gently. " * (1 + i % 5)) for i in range(12)]
    code = [("x[i]=f(y[j])+g(z);" * (2 + i % 6)) for i in range(12)]
    texts = [t for pair in zip(prose, code, strict=True) for t in pair]
    embedder.load()
    with embedder._lock:
        batches = embedder._tokenize(texts)
    assert sorted(i for idx, _ in batches for i in idx) == list(range(len(texts)))
    real = padded = 0
    longest = []
    for _idx, enc in batches:
        shape = tuple(enc["input_ids"].shape)
        assert shape[0] * shape[1] <= max(CPU_BATCH_TOKENS, shape[1])
        padded += shape[0] * shape[1]
        real += int(enc["attention_mask"].sum())
        longest.append(shape[1])
    assert longest == sorted(longest, reverse=True)
    assert padded <= 1.15 * real  # sorting by characters padded ~1.3x here
    together = embedder.embed(texts)
    one_by_one = np.stack([embedder.embed([t])[0] for t in texts[::5]])
    assert ((together[::5] * one_by_one).sum(axis=1) > 0.9999).all()


def test_a_repeated_text_is_embedded_once(embedder: Embedder):
    before = embedder.texts_embedded
    texts = ["licence header", "a function", "licence header", "licence header"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (4, 384)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert not np.allclose(vectors[0], vectors[1])
    assert embedder.texts_embedded == before + 4  # counts what callers asked for
