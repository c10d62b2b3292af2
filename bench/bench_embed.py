"""Embedding speed of ingest's chunks, paths side by side on the SAME chunks (issue 22, item 4).

    nice -n 10 .venv/bin/python bench/bench_embed.py                  # 300 files, torch old vs new
    nice -n 10 .venv/bin/python bench/bench_embed.py --files 1000 --rounds 3
    # + ONNX Runtime (pip install onnxruntime onnx) and llama.cpp GGUF copies made by llama.cpp's
    # own converter (the llama.cpp source folder holding convert_hf_to_gguf.py, e.g. the
    # vendor/llama.cpp of the llama-cpp-python sdist):
    nice -n 10 .venv/bin/python bench/bench_embed.py --fp32 --onnx --llama-cpp-src PATH/llama.cpp

The chunks are those ingest makes of the bench folder of bench_rag_ingest.py (installed packages'
.py/.md/.txt/.rst files + notebooks, chunked by RagService's chunker). Each round runs every path
once, in turn, so a machine shared with other work loads them alike: compare the ratios of one run,
and read the absolute chunks/s with the load average printed beside them.

Paths: ``torch_old`` is the embedder before this change (texts sorted by characters, batches of
up to 32: a third of the tokens were padding on this folder), ``torch`` is today's (token-count
sort, batches of <= 2,048 tokens, duplicates embedded once). ``onnx_*`` and ``gguf_*`` are the
same model exported / converted, each with its cosine to ``torch``'s vectors on every chunk;
``torch_fp32`` is what a CPU without native bf16 runs.

Measured (2-core AMD EPYC, AVX512-BF16, shared with other work, load average 5-8, 163 chunks):
torch 1.25x torch_old; onnx_fp32 0.61x; GGUF f32/f16/bf16 0.41/0.52/0.34x on one thread and
0.15-0.19x on two; cosine to torch >= 0.99992 for all. On 825 chunks, load 4-5: torch 1.28-2.1x.
At load 3-3.5 (163 chunks, 2 rounds): torch 1.29-1.31x, torch_fp32 0.74x, onnx_fp32 0.63x: even
where torch runs float32, ONNX Runtime is not faster here.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

from bench_rag_ingest import make_folder
from old_embedder import CharSortedEmbedder

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.rag.chunkers import Chunker
from jupyter_chat_ext.rag.loaders import load_file

Embed = Callable[[list[str]], np.ndarray]


def ingest_chunks(files: int, work: Path, embedder: Embedder) -> list[str]:
    """The chunk texts ingest embeds for the bench folder (RagService's chunker settings)."""
    make_folder(work, files)
    chunker = Chunker(embedder.count_tokens_batch, max_tokens=200, overlap_tokens=32)
    texts: list[str] = []
    for path in sorted(p for p in work.rglob("*") if p.is_file()):
        try:
            texts += [c.text for c in chunker.chunk(load_file(path))]
        except Exception:  # a file ingest would skip
            continue
    return texts


def commit_batches(texts: list[str], size: int = 128) -> list[list[str]]:
    """Ingest embeds 128 chunks per commit: measure the same calls."""
    return [texts[i : i + size] for i in range(0, len(texts), size)]


def onnx_path(embedder: Embedder, dest: Path) -> Embed:
    """The encoder exported with torch.onnx, run by ONNX Runtime: one 1-thread session per core."""
    import onnxruntime as ort
    import torch
    from transformers import AutoModel

    class Encoder(torch.nn.Module):  # keyword arguments: BertModel.forward's order changes
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(str(embedder.pooling.encoder_dir), dtype=torch.float32)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            ids = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.bert(**ids).last_hidden_state

    model = Encoder().eval()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]}
    torch.onnx.export(
        model, sample, str(dest), input_names=names, output_names=["last_hidden_state"],
        dynamic_axes=axes, opset_version=17, dynamo=False,
    )  # fmt: skip
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sessions = [ort.InferenceSession(str(dest), opts) for _ in range(os.cpu_count() or 1)]
    tok = embedder.tokenizer

    def embed(texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), embedder.dim), dtype=np.float32)
        todo: queue.SimpleQueue = queue.SimpleQueue()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), 8):
            idx = order[start : start + 8]
            batch = [texts[i] for i in idx]
            todo.put((idx, tok(batch, padding=True, truncation=True, max_length=256, return_tensors="np")))

        def drain(session: Any) -> None:
            while True:
                try:
                    idx, enc = todo.get_nowait()
                except queue.Empty:
                    return
                hidden = session.run(None, {n: enc[n] for n in names})[0]
                mask = enc["attention_mask"][..., None].astype(np.float32)
                v = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
                out[idx] = v / np.linalg.norm(v, axis=1, keepdims=True)

        with ThreadPoolExecutor(len(sessions)) as pool:
            list(pool.map(drain, sessions))
        return out

    return embed


def gguf_files(embedder: Embedder, src: Path, dest: Path, types: list[str]) -> dict[str, Path]:
    """GGUF copies of the packaged model made by llama.cpp's own convert_hf_to_gguf.py."""
    made = {}
    for outtype in types:
        out = dest / f"minilm-{outtype}.gguf"
        cmd = [sys.executable, str(src / "convert_hf_to_gguf.py"), str(embedder.model_dir)]
        subprocess.run([*cmd, "--outtype", outtype, "--outfile", str(out)], check=True, capture_output=True)
        made[outtype] = out
    return made


def gguf_path(path: Path, threads: int) -> Embed:
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=str(path), embedding=True, n_ctx=512, n_batch=512, n_ubatch=512,
        n_threads=threads, n_threads_batch=threads, verbose=False,
    )  # fmt: skip
    return lambda texts: np.asarray(llm.embed(texts, normalize=True, truncate=True), dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--fp32", action="store_true", help="also torch in float32 (CPUs without bf16)")
    ap.add_argument("--onnx", action="store_true", help="also ONNX Runtime (needs onnxruntime, onnx)")
    ap.add_argument("--llama-cpp-src", type=Path, help="also llama.cpp: its convert_hf_to_gguf.py folder")
    ap.add_argument("--gguf-types", default="f32,bf16", help="GGUF types to convert (comma separated)")
    ap.add_argument("--quick", action="store_true", help="60 files, one round (make bench)")
    args = ap.parse_args()
    if args.quick:
        args.files, args.rounds = 60, 1
    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        new = Embedder()
        texts = ingest_chunks(args.files, work / "folder", new)
        tokens = np.asarray(new.count_tokens_batch(texts)) + 2
        paths: dict[str, Embed] = {"torch_old": CharSortedEmbedder().embed, "torch": new.embed}
        if args.fp32:  # what a CPU without native bf16 runs (there the auto dtype is float32)
            paths["torch_fp32"] = Embedder(dtype="float32").embed
        if args.onnx:
            paths["onnx_fp32"] = onnx_path(new, work / "minilm.onnx")
        if args.llama_cpp_src:
            made = gguf_files(new, args.llama_cpp_src, work, args.gguf_types.split(","))
            for outtype, path in made.items():
                for threads in (1, os.cpu_count() or 1):
                    paths[f"gguf_{outtype}_{threads}thr"] = gguf_path(path, threads)
        for embed in paths.values():
            embed(texts[:4])  # load and warm up
        seconds: dict[str, list[float]] = {name: [] for name in paths}
        loads: list[float] = []
        vectors: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for name, embed in paths.items():
                loads.append(os.getloadavg()[0])
                started = time.perf_counter()
                vectors[name] = np.concatenate([embed(batch) for batch in commit_batches(texts)])
                seconds[name].append(time.perf_counter() - started)
        ref = vectors["torch"]
        result: dict[str, Any] = {
            "bench": "embed",
            "cpus": os.cpu_count(),
            "dtype": new.dtype,
            "chunks": len(texts),
            "distinct_chunks": len(set(texts)),
            "tokens_mean": round(float(tokens.mean()), 1),
            "load_average_1min": {"min": min(loads), "max": max(loads)},
            "paths": {},
        }
        for name in paths:
            cos = (vectors[name] * ref).sum(axis=1)
            result["paths"][name] = {
                "chunks_per_s": [round(len(texts) / s, 1) for s in seconds[name]],
                "best_chunks_per_s": round(len(texts) / min(seconds[name]), 1),
                "cosine_to_torch": {"min": round(float(cos.min()), 6), "mean": round(float(cos.mean()), 6)},
            }
        base = seconds["torch_old"]
        for name in paths:  # round by round: both ran under the same load
            ratio = [b / s for b, s in zip(base, seconds[name], strict=True)]
            result["paths"][name]["speedup_vs_torch_old"] = [round(r, 2) for r in ratio]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
