"""Fill-in-the-middle tokens: found in GGUF metadata or an HF vocabulary, laid out as PSM."""

from __future__ import annotations

from pathlib import Path

import gguf

from jupyter_chat_ext.engine.fim import fim_ids_from_gguf, fim_ids_from_vocab, psm_layout


def write_gguf(path: Path, **ids: int) -> Path:
    """A GGUF holding only metadata (what llama.cpp and our header reader look at for FIM)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    for name, value in ids.items():
        writer.add_uint32(f"tokenizer.ggml.{name}_token_id", value)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    return path


def test_fim_tokens_from_gguf_metadata_and_vocabularies(tmp_path):
    assert fim_ids_from_gguf(write_gguf(tmp_path / "fim.gguf", fim_pre=3, fim_suf=4, fim_mid=5)) == (3, 4, 5)
    assert fim_ids_from_gguf(write_gguf(tmp_path / "half.gguf", fim_pre=3, fim_suf=4)) is None
    assert fim_ids_from_vocab({"<fim_prefix>": 7, "<fim_suffix>": 8, "<fim_middle>": 9, "a": 1}) == (7, 8, 9)
    assert fim_ids_from_vocab({"<|fim_prefix|>": 1, "<|fim_suffix|>": 2, "<|fim_middle|>": 3}) == (1, 2, 3)
    assert fim_ids_from_vocab({"<fim_prefix>": 7, "<fim_suffix>": 8}) is None
    assert psm_layout((3, 4, 5), [10, 11], [12]) == [3, 10, 11, 4, 12, 5]
    assert psm_layout((3, 4, 5), [10], [], bos=1) == [1, 3, 10, 4, 5]


def test_the_packaged_model_has_no_fim_tokens(engine):
    """SmolLM2's control tokens are ChatML and repository markers: completion is prefix-only."""
    model = engine.resolve(None)
    assert engine.capabilities(model)["fim"] is False
    assert engine.runtime(model).fim_ids("def f(", "):\n") is None
    assert fim_ids_from_gguf(engine.registry.get(model).path) is None
