"""RAG search latency over HTTP at 15k chunks (issue 22: p50 <= 30 ms, reranker off). Prints JSON.

    .venv/bin/python bench/bench_rag_http.py [--chunks 15000] [--queries 100]

A collection of ``--chunks`` synthetic rows (random unit vectors, text drawn from the Lee news
corpus' words when gensim is installed, else from the dev set's docs; the indexes the service
builds: IVF_SQ + native FTS) is written into a fresh data dir, a real ``jupyter server`` with the
extension is started on it, and ``GET /chat-ext/collections/syn/search?q=..&k=5`` is timed for
hybrid, vector and text mode (the query embedded by the server each time), one request at a time,
alongside the same searches in-process (RagService.search) to show what HTTP adds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bench_rag import synthetic_rows
from bench_server import JupyterServer

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.rag.service import RagService
from jupyter_chat_ext.settings import Settings

RAGSET = Path(__file__).resolve().parent / "ragset"


def corpus_words() -> tuple[list[str], np.ndarray]:
    text = " ".join(p.read_text() for p in sorted((RAGSET / "docs").glob("*.txt")))
    counts = Counter(w.lower().strip(".,\"'()*:;") for w in text.split())
    counts.pop("", None)
    words = [w for w in counts if w.isalpha()]
    weights = np.array([counts[w] for w in words], dtype=np.float64)
    return words, weights / weights.sum()


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def build(data_dir: Path, embedder: Embedder, n: int) -> dict[str, Any]:
    words, weights = corpus_words()
    rag = RagService(Settings(data_dir=data_dir), embedder)
    rag.create_collection("syn")
    rows, _ = synthetic_rows(n, embedder.dim, words, weights, np.random.default_rng(0))
    for start in range(0, n, 20_000):
        rag.index.add("syn", rows.slice(start, 20_000))
    done = rag.index.refresh_indexes("syn")
    rag.close()
    return done


def in_process(data_dir: Path, embedder: Embedder, queries: list[str]) -> dict[str, float]:
    rag = RagService(Settings(data_dir=data_dir), embedder)
    out = {}
    try:
        for mode in ("hybrid", "vector", "text"):
            for q in queries[:3]:
                rag.search("syn", q, k=5, mode=mode)
            times = []
            for q in queries:
                t = time.perf_counter()
                rag.search("syn", q, k=5, mode=mode)
                times.append((time.perf_counter() - t) * 1000)
            out[f"{mode}_p50_ms"], out[f"{mode}_p95_ms"] = pct(times, 50), pct(times, 95)
    finally:
        rag.close()
    return out


def over_http(server: JupyterServer, queries: list[str]) -> dict[str, Any]:
    import httpx

    out: dict[str, Any] = {}
    with httpx.Client(base_url=server.base, headers=server.headers, timeout=60) as client:
        url = "/chat-ext/collections/syn/search"
        for mode in ("hybrid", "vector", "text"):
            for q in queries[:3]:  # warm: the embedder and the table open on first use
                client.get(url, params={"q": q, "k": 5, "mode": mode}).raise_for_status()
            times = []
            for q in queries:
                t = time.perf_counter()
                resp = client.get(url, params={"q": q, "k": 5, "mode": mode})
                times.append((time.perf_counter() - t) * 1000)
                resp.raise_for_status()
            out[f"{mode}_p50_ms"], out[f"{mode}_p95_ms"] = pct(times, 50), pct(times, 95)
        out["rerank_ms_in_response"] = resp.json().get("rerank_ms")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=15_000)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    words, _ = corpus_words()
    rng = random.Random(0)
    queries = [" ".join(rng.choices(words[:3000], k=rng.randint(2, 8))) for _ in range(args.queries)]
    root = Path(tempfile.mkdtemp(prefix="bench-rag-http-"))
    embedder = Embedder()
    result: dict[str, Any] = {
        "bench": "rag_http",
        "chunks": args.chunks,
        "queries": len(queries),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        result["indexes"] = build(root / "chat-data", embedder, args.chunks)
        result["in_process"] = in_process(root / "chat-data", embedder, queries)
        server = JupyterServer(root)
        try:
            result["server_ready_s"] = round(server.wait_ready(), 2)
            result["http"] = over_http(server, queries)
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    http, local = result["http"], result["in_process"]
    overhead = [http[f"{m}_p50_ms"] - local[f"{m}_p50_ms"] for m in ("hybrid", "vector", "text")]
    result["median_http_overhead_ms"] = round(statistics.median(overhead), 2)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
