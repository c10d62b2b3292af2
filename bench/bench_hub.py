"""Model hub figures (issue 18): the hardware profile's cost, and GGUF embeddings through llama.cpp
against the packaged transformers embedder on the same weights (all-MiniLM-L6-v2 written as an f32
GGUF by tests/hub/bert_gguf.py). Prints one JSON object; ratios mean something only within one run.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_hub.py [--texts 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "hub"))


def best_rate(embed, texts: list[str], repeats: int) -> float:
    embed(texts[:4])  # loads the model
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        embed(texts)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from jupyter_chat_ext.hub import hardware

    out: dict[str, object] = {}
    t0 = time.perf_counter()
    profile = hardware.build_profile(tempfile.gettempdir())
    out["hardware_profile_first_s"] = round(time.perf_counter() - t0, 4)
    hardware.hardware_profile(tempfile.gettempdir())
    t0 = time.perf_counter()
    hardware.hardware_profile(tempfile.gettempdir())
    out["hardware_profile_cached_s"] = round(time.perf_counter() - t0, 6)
    out["gpus"] = len(profile["gpus"])
    out["llama_cpp"] = profile["llama_cpp"]

    from bert_gguf import write_bert_gguf
    from standin_hub import packaged_embedding_folder

    from jupyter_chat_ext.engine.embeddings import Embedder
    from jupyter_chat_ext.engine.embeddings_llamacpp import LlamaCppEmbedder

    texts = [
        f"Sentence number {i} about notebooks, data frames and plots in Jupyter." for i in range(args.texts)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        gguf_path = write_bert_gguf(packaged_embedding_folder(), Path(tmp) / "minilm-f32.gguf")
        gguf_emb = LlamaCppEmbedder(gguf_path)
        hf_emb = Embedder(dtype="float32")
        out["llamacpp_gguf_texts_per_s"] = round(best_rate(gguf_emb.embed, texts, args.repeats), 1)
        out["transformers_texts_per_s"] = round(best_rate(hf_emb.embed, texts, args.repeats), 1)
        out["min_cosine_gguf_vs_transformers"] = float(
            (gguf_emb.embed(texts) * hf_emb.embed(texts)).sum(1).min()
        )
        gguf_emb.close()
    out["texts"] = args.texts
    print(json.dumps(out))


if __name__ == "__main__":
    main()
