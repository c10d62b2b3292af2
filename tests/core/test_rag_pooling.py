"""Embedding models are pooled as their sentence-transformers config says, or refused (issue 14).

Each case is a folder of symlinks to the packaged MiniLM's weights and tokenizer with our own
``modules.json`` / ``1_Pooling/config.json``; the reference vectors are computed here, independently,
from the encoder's raw token states (plain transformers, fp32).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from jupyter_chat_ext.engine.embeddings import Embedder, packaged_model_dir
from jupyter_chat_ext.engine.pooling import read_pooling
from jupyter_chat_ext.errors import ModelError
from jupyter_chat_ext.rag.service import RagService

TEXTS = ["A man is eating food.", "Owls hunt mice at night in the old barn.", "Hi"]
TRANSFORMER = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}
POOLING = {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}
NORMALIZE = {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}


def model_copy(tmp_path: Path, name: str, pooling: dict | None, modules: list | None) -> Path:
    """The packaged model's files as symlinks, with our own modules.json and pooling config."""
    src = packaged_model_dir()
    dst = tmp_path / name
    dst.mkdir()
    for item in src.iterdir():
        if item.name not in ("modules.json", "1_Pooling"):
            (dst / item.name).symlink_to(item)
    if modules is not None:
        (dst / "modules.json").write_text(json.dumps(modules))
    if pooling is not None:
        (dst / "1_Pooling").mkdir()
        (dst / "1_Pooling" / "config.json").write_text(
            json.dumps({"word_embedding_dimension": 384, **pooling})
        )
    return dst


@pytest.fixture(scope="module")
def token_states() -> tuple[np.ndarray, np.ndarray]:
    """(batch, seq, 384) fp32 token states and the attention mask, straight from transformers."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(packaged_model_dir()))
    model = AutoModel.from_pretrained(str(packaged_model_dir()), dtype=torch.float32).eval()
    enc = tok(TEXTS, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state.numpy()
    return hidden, enc["attention_mask"].numpy()


def reference(mode: str, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = []
    for h, m in zip(hidden, mask, strict=True):
        real = h[m.astype(bool)]
        if mode == "cls":
            out.append(h[0])
        elif mode == "max":
            out.append(real.max(axis=0))
        elif mode == "mean":
            out.append(real.mean(axis=0))
        elif mode == "lasttoken":
            out.append(real[-1])
        elif mode == "mean_sqrt_len_tokens":
            out.append(real.sum(axis=0) / np.sqrt(len(real)))
    return np.stack(out)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (unit(a) * unit(b)).sum(axis=1)


def test_packaged_model_is_mean_pooled_and_normalised():
    spec = read_pooling(packaged_model_dir())
    assert spec.modes == ("mean",) and spec.normalize and spec.dim == 384
    assert Embedder().info()["pooling"] == ["mean"]


@pytest.mark.parametrize("mode", ["cls", "max", "mean", "lasttoken", "mean_sqrt_len_tokens"])
def test_each_pooling_mode_matches_the_reference(tmp_path, token_states, mode):
    key = "pooling_mode_cls_token" if mode == "cls" else f"pooling_mode_{mode}"
    key = {"max": "pooling_mode_max_tokens", "mean": "pooling_mode_mean_tokens"}.get(mode, key)
    folder = model_copy(tmp_path, f"minilm-{mode}", {key: True}, [TRANSFORMER, POOLING])
    emb = Embedder(model_dir=folder, dtype="float32")
    got = emb.embed(TEXTS)
    want = reference(mode, *token_states)
    assert got.shape == want.shape == (len(TEXTS), 384)
    assert cosines(got, want).min() > 0.9999
    # no Normalize module: the vectors keep their length, as sentence-transformers would give them
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(want, axis=1), rtol=1e-3)
    if mode not in ("mean", "mean_sqrt_len_tokens"):  # (that one is a scaled mean: same direction)
        # and they point elsewhere than mean pooling would have
        assert cosines(got, reference("mean", *token_states)).min() < 0.999


def test_concatenated_modes_and_normalize(tmp_path, token_states):
    folder = model_copy(
        tmp_path,
        "minilm-cls-mean",
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": True},
        [TRANSFORMER, POOLING, NORMALIZE],
    )
    emb = Embedder(model_dir=folder, dtype="float32")
    assert emb.dim == 768
    got = emb.embed(TEXTS)
    want = unit(np.concatenate([reference("cls", *token_states), reference("mean", *token_states)], axis=1))
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    assert cosines(got, want).min() > 0.9999


@pytest.mark.parametrize(
    "pooling, modules, words",
    [
        (
            {"pooling_mode_mean_tokens": True},
            [TRANSFORMER, POOLING, {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}],
            "Dense",
        ),
        (None, [TRANSFORMER, POOLING], "no sentence-transformers pooling config"),
        (None, None, "no sentence-transformers pooling config"),
        ({"pooling_mode_mean_tokens": False}, [TRANSFORMER, POOLING], "enables no pooling mode"),
        ({"pooling_mode_attention_tokens": True}, [TRANSFORMER, POOLING], "unknown pooling option"),
        ({"pooling_mode": "attention"}, [TRANSFORMER, POOLING], "unknown pooling mode"),
        ({"pooling_mode_mean_tokens": True}, [POOLING, TRANSFORMER], "before the Transformer"),
    ],
)
def test_unsupported_models_are_refused_clearly(tmp_path, settings, pooling, modules, words):
    folder = model_copy(tmp_path, "odd-model", pooling, modules)
    emb = Embedder(model_dir=folder)
    with pytest.raises(ModelError, match=words) as err:
        emb.embed(["hello"])
    assert err.value.code == "embedding_model_unsupported" and "odd-model" in err.value.message
    assert emb.info()["error"]["code"] == "embedding_model_unsupported"  # health pages still answer
    with pytest.raises(ModelError, match=words):  # the RAG service refuses it up front
        RagService(settings, emb)
