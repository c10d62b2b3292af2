"""A GGUF embedding model through llama.cpp's embedding mode: listed as an embedding model, chosen as
the embedding role, and its vectors agree with the packaged transformers embedder on the same weights."""

from __future__ import annotations

import numpy as np
import pytest
from bert_gguf import write_bert_gguf
from standin_hub import packaged_embedding_folder

from jupyter_chat_ext.engine.embeddings_llamacpp import LlamaCppEmbedder, gguf_kind
from jupyter_chat_ext.errors import InvalidInput, ModelError
from jupyter_chat_ext.hub import roles
from jupyter_chat_ext.settings import Settings

TEXTS = ["Jupyter notebooks mix code and prose.", "The cat sat on the mat.", "DuckDB answers SQL over files."]


@pytest.fixture(scope="module")
def minilm_gguf(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gguf-models")
    write_bert_gguf(packaged_embedding_folder(), folder / "minilm-embed.gguf")
    return folder


def test_gguf_kind_from_the_header():
    assert gguf_kind({"general.architecture": "llama"}) == "chat"
    assert gguf_kind({"general.architecture": "bert", "bert.pooling_type": 1}) == "embedding"
    assert gguf_kind({"general.architecture": "nomic-bert"}) == "embedding"
    assert gguf_kind({"general.architecture": "qwen3", "qwen3.pooling_type": 3}) == "embedding"
    assert gguf_kind({"general.architecture": "bert", "bert.pooling_type": 4}) == "rerank"


def test_a_chat_gguf_is_refused_as_an_embedder():
    from standin_hub import packaged_gguf

    with pytest.raises(ModelError) as exc:
        LlamaCppEmbedder(packaged_gguf())
    assert exc.value.code == "embedding_model_unsupported"


def test_the_gguf_embedder_matches_the_packaged_one(minilm_gguf):
    pytest.importorskip("llama_cpp")
    from jupyter_chat_ext.engine.embeddings import Embedder

    gguf_emb = LlamaCppEmbedder(minilm_gguf / "minilm-embed.gguf", model_id="minilm-embed", n_threads=1)
    assert (gguf_emb.dim, gguf_emb.max_tokens, gguf_emb.loaded) == (384, 512, False)  # from the header alone
    ours = gguf_emb.embed(TEXTS)
    ref = Embedder(dtype="float32").embed(TEXTS)
    assert ours.shape == (3, 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    cosines = (ours * ref).sum(axis=1)
    assert cosines.min() > 0.99, cosines  # the same weights and pooling: the same vectors
    assert gguf_emb.count_tokens_batch(["hello world"]) == [2]
    gguf_emb.close()


def test_the_embedding_role_switches_to_the_gguf_model(minilm_gguf, tmp_path):
    pytest.importorskip("llama_cpp")
    from jupyter_chat_ext.core import build_core

    settings = Settings(data_dir=tmp_path / "data", model_dirs=[minilm_gguf], scan_hf_cache=False)
    core = build_core(settings)
    try:
        engine = core.engine
        listed = {m["id"]: m for m in engine.list_models()}
        assert listed["minilm-embed"]["kind"] == "embedding" and listed["minilm-embed"]["format"] == "gguf"
        view = core.set_roles({"embedding": "minilm-embed"})  # the embedder is switched for RAG too
        assert view["embedding"] == "minilm-embed"
        new = engine.embedder
        assert isinstance(new, LlamaCppEmbedder)
        assert core.rag is not None and core.rag.embedder is new  # RAG embeds (and counts) with it now
        assert core.rag.chunker.count == new.count_tokens_batch
        assert engine.embed(["one", "two"]).shape == (2, 384)
        with pytest.raises(InvalidInput):  # a chat model is not an embedding model (400)
            roles.update_roles(engine, {"embedding": settings.default_model})
        # the choice survives a restart: build_core lays roles.json over the config
        fresh = Settings(data_dir=tmp_path / "data", model_dirs=[minilm_gguf], scan_hf_cache=False)
        roles.apply_saved_roles(fresh)
        assert fresh.embedding_model == "minilm-embed"
    finally:
        core.close()
