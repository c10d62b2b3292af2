"""RAG benchmark: ingest rate vs bare embedding, query latency, retrieval quality. Prints JSON.

    .venv/bin/python bench/bench_rag.py            # full: latency at 10k and 100k chunks
    .venv/bin/python bench/bench_rag.py --quick    # small corpus, 10k chunks only

Sections:
- embedder: bf16 vs fp32 throughput of the packaged MiniLM on real sentences, and their cosine.
- ingest: RagService.ingest over real files (Lee background news corpus as .txt + the pathspec
  package's .py sources) in chunks/s, against embedding the very same chunk texts bare in the same
  run (goal: ratio >= 0.8); then a re-ingest of the unchanged folder (expect 0 embedded).
- latency: p50/p95 of RagService.search for vector, text and hybrid (query embedding included) on
  synthetic tables (random unit vectors, text sampled from real news words) of 10k and 100k chunks,
  with the indexes the service builds (IVF_SQ past 5k rows, native FTS); plus ANN recall@10 against
  exact search for queries near stored vectors.
- ingest_folder (``--ingest-files 1000``): bench/bench_rag_ingest.py's generated folder of mixed
  files (installed packages' .py/.md/.txt/.rst + notebooks): chunks/s and where the time went.
- resume: a child process ingests a generated folder as a job and is SIGKILLed once some batches
  are committed; a new service finds the job ``interrupted`` and resumes it. Reports the chunks
  committed before the kill, the most chunks the child ever held uncommitted (what a kill can lose:
  at most one batch), the chunks the resume embedded, the committed chunks embedded twice (goal 0)
  and whether the final table equals a clean run's.
- quality (``--quality`` runs only this): the dev set (bench/ragset: 185 questions over Python's
  docs and code) - recall@5, MRR@10, nDCG@10 per set for vector-only, BM25-only, RRF, the former
  fusion, the service's hybrid search, and + reranker with ``--rerank-model``; and the Lee corpus
  (50 news documents, 50x50 human similarity ratings; Lee, Pincombe & Welsh 2005, shipped in the
  ``gensim`` wheel): each document queries the other 49, nDCG@10 graded by human similarity.
  bench/bench_rag_quality.py has the details and ``--sweep`` (every fusion tried).

The Lee data comes from the gensim wheel without importing gensim (no scipy needed):
    .venv/bin/pip install --no-deps gensim
or pass --lee-dir pointing at a folder with lee.cor, lee_background.cor, similarities0-1.txt.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_rag_quality import bench_lee, bench_ragset

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.rag import index as rag_index
from jupyter_chat_ext.rag.fusion import minmax_fuse, vector_weight_for
from jupyter_chat_ext.rag.ingest import BATCH_CHUNKS
from jupyter_chat_ext.rag.rerank import make_reranker
from jupyter_chat_ext.rag.service import RagService
from jupyter_chat_ext.settings import Settings


def lee_dir(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"
    return path if (path / "lee.cor").exists() else None


def read_lines(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_bytes().decode("latin-1").splitlines() if ln.strip()]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


# -- embedder ----------------------------------------------------------------------------------
def bench_embedder(sentences: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"texts": len(sentences)}
    vecs = {}
    for dtype in ("bfloat16", "float32"):
        emb = Embedder(dtype=dtype)
        emb.embed(sentences[:16])  # load + warm up
        t = time.perf_counter()
        vecs[dtype] = emb.embed(sentences)
        out[f"{dtype}_texts_per_s"] = round(len(sentences) / (time.perf_counter() - t), 1)
    out["min_cosine_bf16_vs_fp32"] = round(float((vecs["bfloat16"] * vecs["float32"]).sum(1).min()), 6)
    return out


# -- ingest ------------------------------------------------------------------------------------
def bench_resume(work: Path, embedder: Embedder, files: int, batch: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "core"))
    from test_ingest_support import kill_after, make_corpus, start_child

    corpus = make_corpus(work / "resume-corpus", files=files)
    clean = RagService(Settings(data_dir=work / "resume-clean"), embedder, batch_chunks=batch)
    clean.create_collection("kb")
    t = time.perf_counter()
    clean_report = clean.ingest("kb", [corpus])
    clean_s = time.perf_counter() - t
    clean_rows = clean.get_collection("kb")["chunks"]
    clean.close()

    data_dir = work / "resume-killed"
    t = time.perf_counter()
    child = start_child(data_dir, corpus, batch)
    seen = kill_after(child, min_chunks=max(batch, clean_report.chunks * 2 // 5))
    child_s = time.perf_counter() - t
    rag = RagService(Settings(data_dir=data_dir), embedder, batch_chunks=batch)
    try:
        state = rag.get_job(seen["id"])["state"] if seen["id"] else None
        committed = rag.get_collection("kb")["chunks"]
        t = time.perf_counter()
        rag.resume_job(seen["id"])
        done = rag.jobs.wait(seen["id"], timeout=1800)
        resume_s = time.perf_counter() - t
        final_rows = rag.get_collection("kb")["chunks"]
    finally:
        rag.close()
    resumed = done.get("report") or {}
    return {
        "files": files,
        "batch_chunks": batch,
        "clean_chunks": clean_report.chunks,
        "clean_seconds": round(clean_s, 2),
        "killed": seen["killed"],
        "child_seconds_until_kill": round(child_s, 2),
        "state_after_restart": state,
        "committed_at_kill": committed,
        "max_uncommitted_chunks_seen": seen["max_pending"],
        "resume_state": done["state"],
        "resume_seconds": round(resume_s, 2),
        "resume_embedded": resumed.get("embedded"),
        "resume_files_unchanged": resumed.get("files_unchanged"),
        "committed_chunks_embedded_twice": committed
        + int(resumed.get("embedded") or 0)
        - clean_report.embedded,
        "final_chunks": final_rows,
        "final_equals_clean": final_rows == clean_rows,
    }


def bench_ingest(work: Path, embedder: Embedder, background: list[str], quick: bool) -> dict[str, Any]:
    corpus = work / "corpus"
    (corpus / "news").mkdir(parents=True)
    docs = background[:60] if quick else background
    for i, text in enumerate(docs):
        (corpus / "news" / f"story{i:03d}.txt").write_text(text)
    spec = importlib.util.find_spec("pathspec")
    if spec is not None and spec.submodule_search_locations and not quick:
        shutil.copytree(
            next(iter(spec.submodule_search_locations)),
            corpus / "pathspec",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    settings = Settings(data_dir=work / "ingest-data")
    rag = RagService(settings, embedder)
    rag.create_collection("bench")
    embedder.embed(["warm up"])
    report = rag.ingest("bench", [corpus])
    table = rag.index.table("bench")
    texts = table.search().select(["text"]).limit(None).to_arrow()["text"].to_pylist()
    t = time.perf_counter()
    embedder.embed(texts)
    bare = len(texts) / (time.perf_counter() - t)
    calls = embedder.texts_embedded
    t = time.perf_counter()
    again = rag.ingest("bench", [corpus])
    reingest_s = time.perf_counter() - t
    tokens = embedder.count_tokens_batch(texts)
    rag.close()
    return {
        "files": report.files_total,
        "chunks": report.chunks,
        "median_chunk_tokens": statistics.median(tokens),
        "skipped": len(report.skipped),
        "ingest_seconds": report.seconds,
        "ingest_chunks_per_s": round(report.chunks / report.seconds, 2),
        "bare_embed_chunks_per_s": round(bare, 2),
        "ratio_ingest_to_bare": round(report.chunks / report.seconds / bare, 3),
        "reingest_unchanged_seconds": round(reingest_s, 3),
        "reingest_texts_embedded": embedder.texts_embedded - calls,
        "reingest_files_unchanged": again.files_unchanged,
    }


# -- latency -----------------------------------------------------------------------------------
def synthetic_rows(n: int, dim: int, words: list[str], weights: np.ndarray, rng: np.random.Generator):
    import pyarrow as pa

    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picks = rng.choice(len(words), size=(n, 60), p=weights)
    texts = [" ".join(words[j] for j in row) for row in picks]
    schema = rag_index.chunk_schema(dim)
    ids = [f"syn-{i:07d}" for i in range(n)]
    cols = {
        "chunk_id": ids,
        "text": texts,
        "path": [f"/synthetic/file{i // 20:05d}.txt" for i in range(n)],
        "source": [f"synthetic/file{i // 20:05d}.txt" for i in range(n)],
        "file_type": ["txt"] * n,
        "file_hash": [f"h{i // 20}" for i in range(n)],
        "chunk_hash": ids,
        "chunk_index": [i % 20 for i in range(n)],
        "location": ['{"lines": [1, 1]}'] * n,
    }
    arrays = {k: pa.array(v, type=schema.field(k).type) for k, v in cols.items()}
    arrays["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    return pa.table({f.name: arrays[f.name] for f in schema}, schema=schema), vectors


def index_only_latency(rag: RagService, queries: list[str], qvecs: np.ndarray) -> dict[str, float]:
    """LanceDB alone (query vectors precomputed): what the index costs without the embedder."""
    runs = {
        "vector": lambda i: rag.index.vector_search("syn", qvecs[i], 10, None),
        "text": lambda i: rag.index.text_search("syn", queries[i], 10, None),
        "hybrid": lambda i: minmax_fuse(
            rag.index.vector_search("syn", qvecs[i], 40, None),
            rag.index.text_search("syn", queries[i], 40, None),
            vector_weight=vector_weight_for(queries[i]),
            limit=10,
        ),
    }
    out: dict[str, float] = {}
    for mode, run in runs.items():
        times = []
        for i in range(len(queries)):
            t = time.perf_counter()
            run(i)
            times.append((time.perf_counter() - t) * 1000)
        out[f"{mode}_index_only_p50_ms"] = pct(times, 50)
        out[f"{mode}_index_only_p95_ms"] = pct(times, 95)
    return out


def bench_latency(
    work: Path, embedder: Embedder, sizes: list[int], background: list[str], n_queries: int
) -> dict[str, Any]:
    from collections import Counter

    counts = Counter(w.lower().strip(".,\"'()") for doc in background for w in doc.split())
    counts.pop("", None)
    words = list(counts)
    weights = np.array([counts[w] for w in words], dtype=np.float64)
    weights /= weights.sum()
    rng = np.random.default_rng(0)
    pyrng = random.Random(0)
    out: dict[str, Any] = {}
    for n in sizes:
        settings = Settings(data_dir=work / f"lat-{n}")
        rag = RagService(settings, embedder)
        rag.create_collection("syn")
        rows, vectors = synthetic_rows(n, embedder.dim, words, weights, rng)
        t = time.perf_counter()
        for start in range(0, n, 20_000):
            rag.index.add("syn", rows.slice(start, 20_000))
        insert_s = time.perf_counter() - t
        t = time.perf_counter()
        done = rag.index.refresh_indexes("syn")
        index_s = time.perf_counter() - t
        queries = [" ".join(pyrng.choices(words[:3000], k=pyrng.randint(2, 8))) for _ in range(n_queries)]
        res: dict[str, Any] = {
            "insert_s": round(insert_s, 2),
            "index_build_s": round(index_s, 2),
            "indexes": done,
        }
        t0 = time.perf_counter()
        for q in queries:
            embedder.embed([q])
        res["query_embed_ms_mean"] = round((time.perf_counter() - t0) / len(queries) * 1000, 2)
        qvecs = embedder.embed(queries)
        res.update(index_only_latency(rag, queries, qvecs))
        for mode in ("vector", "text", "hybrid"):
            for q in queries[:3]:
                rag.search("syn", q, k=10, mode=mode)  # warm caches
            times = []
            for q in queries:
                t = time.perf_counter()
                rag.search("syn", q, k=10, mode=mode)
                times.append((time.perf_counter() - t) * 1000)
            res[f"{mode}_p50_ms"] = pct(times, 50)
            res[f"{mode}_p95_ms"] = pct(times, 95)
        # ANN recall@10 vs exact, for queries next to stored vectors
        picks = rng.choice(n, size=min(50, n_queries), replace=False)
        recalls = []
        for i in picks:
            q = vectors[i] + rng.standard_normal(embedder.dim).astype(np.float32) * 0.05
            q /= np.linalg.norm(q)
            exact = set(np.argsort(-(vectors @ q))[:10].tolist())
            got = rag.index.vector_search("syn", q, 10, None)
            recalls.append(len(exact & {int(h["chunk_id"][4:]) for h in got}) / 10)
        res["ann_recall_at_10"] = round(float(np.mean(recalls)), 3)
        out[str(n)] = res
        rag.close()
        shutil.rmtree(work / f"lat-{n}", ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small corpus, 10k-chunk latency only")
    ap.add_argument(
        "--quality",
        action="store_true",
        help="only the quality sections (dev set + Lee)",
    )
    ap.add_argument(
        "--ingest-files", type=int, default=0, help="also ingest a generated folder of this many mixed files"
    )
    ap.add_argument("--rerank-model", default=None, help="also score search + this reranker (rerank_model)")
    ap.add_argument("--sizes", default=None, help="comma-separated table sizes (default 10000,100000)")
    ap.add_argument("--queries", type=int, default=None, help="queries per latency measurement")
    ap.add_argument(
        "--lee-dir", default=None, help="folder with lee.cor, lee_background.cor, similarities0-1.txt"
    )
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the run")
    ap.add_argument("--resume-files", type=int, default=None, help="files in the kill/resume corpus")
    ap.add_argument("--resume-batch", type=int, default=None, help="chunks per commit in the resume run")
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated sections to skip: embedder,ingest,resume,latency,quality",
    )
    args = ap.parse_args()
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else ([10_000] if args.quick else [10_000, 100_000])
    )
    n_queries = args.queries or (20 if args.quick else 50)
    skip = set(filter(None, args.skip.split(",")))
    if args.quality:
        skip |= {"embedder", "ingest", "resume", "latency"}
    lee = lee_dir(args.lee_dir)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict[str, Any] = {
        "bench": "rag",
        "quick": args.quick,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if lee is None:
        result["lee"] = "missing: .venv/bin/pip install --no-deps gensim (or --lee-dir)"
        background = [
            f"Synthetic filler document {i} about topic {i % 13} with words alpha beta gamma delta."
            for i in range(300)
        ]
    else:
        background = read_lines(lee / "lee_background.cor")
    embedder = Embedder()
    work = Path(tempfile.mkdtemp(prefix="bench-rag-"))
    try:
        if "embedder" not in skip:
            sentences = [s.strip() + "." for doc in background for s in doc.split(". ") if len(s.split()) > 4]
            result["embedder"] = bench_embedder(sentences[: 128 if args.quick else 512])
        if "ingest" not in skip:
            result["ingest"] = bench_ingest(work, embedder, background, args.quick)
        if args.ingest_files:  # bench/bench_rag_ingest.py: the issue-22 figure (>= 1,000 files)
            from bench_rag_ingest import make_folder, run_ingest

            counts = make_folder(work / "folder", args.ingest_files)
            run = run_ingest(work / "folder", work / "fdata", embedder)
            result["ingest_folder"] = {"folder": counts, **run}
        if "resume" not in skip:
            files = args.resume_files or (40 if args.quick else 400)
            result["resume"] = bench_resume(
                work, embedder, files, args.resume_batch or (16 if args.quick else BATCH_CHUNKS)
            )
        if "latency" not in skip:
            result["latency"] = bench_latency(work, embedder, sizes, background, n_queries)
        if "quality" not in skip:
            reranker = make_reranker(args.rerank_model, Settings()) if args.rerank_model else None
            result["quality_ragset"] = bench_ragset(work, embedder, reranker=reranker)
            if lee is not None:
                result["quality_lee"] = bench_lee(work, embedder, lee)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
