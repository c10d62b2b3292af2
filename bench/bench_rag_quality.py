"""Retrieval quality on the dev set (bench/ragset): recall@5, MRR@10, nDCG@10 per set and method.

    .venv/bin/python bench/bench_rag.py --quality          # this section alone, JSON on stdout
    .venv/bin/python bench/bench_rag_quality.py --sweep    # + every fusion variant tried (the tuning)

Methods: vector-only, BM25-only (LanceDB's native FTS), RRF (k = 60, Elastic's default), the
convex combination the service used before (w = 0.7), and ``service``: RagService.search in
hybrid mode as shipped (rag/fusion.py), plus ``service+rerank`` when a reranker is given
(``--rerank-model``, the same value as the ``rerank_model`` setting). Sets: ``docs`` (pydoc
topics: prose), ``code`` (stdlib + packaging sources), ``all``; and by question kind
(``paraphrase``, ``identifier``, ``keyword``). The goal: ``service`` >= max(vector, bm25) on every set.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ragset.labels import HERE as RAGSET
from ragset.labels import Question, load_questions, map_labels, score

from jupyter_chat_ext.rag import fusion
from jupyter_chat_ext.rag.service import HYBRID_DEPTH, RagService
from jupyter_chat_ext.settings import Settings

K = 10
DEPTH = K * HYBRID_DEPTH


def _ids(hits: list[dict[str, Any]]) -> list[str]:
    return [h["chunk_id"] for h in hits][:K]


def _scaled_fuse(v, t, w, vscale, tscale):
    """w * vscale(cosine) + (1 - w) * tscale(bm25): "minmax" (lo..hi -> 0..1) or "max" (0..hi -> 0..1,
    Bruch et al.'s theoretical min-max: cosine and BM25 both have 0 as their floor)."""

    def scale(hits, how):
        s = [float(h["score"]) for h in hits]
        if not s:
            return {}
        lo = min(s) if how == "minmax" else 0.0
        span = max(s) - lo
        return {h["chunk_id"]: (max(float(h["score"]) - lo, 0.0) / span if span > 0 else 1.0) for h in hits}

    nv, nt = scale(v, vscale), scale(t, tscale)
    fused = {h["chunk_id"]: h for h in [*t, *v]}

    def fused_score(h: dict[str, Any]) -> float:
        return w * nv.get(h["chunk_id"], 0) + (1 - w) * nt.get(h["chunk_id"], 0)

    return sorted(fused.values(), key=lambda h: -fused_score(h))


_IDENT = re.compile(r"[A-Za-z_]\w*(?:_\w*|\.\w+|\(\))|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*")


def experiments() -> dict[str, Any]:
    """The fusions tried and not chosen (scored with --sweep; rag/fusion.py says why)."""
    out: dict[str, Any] = {}
    for k0 in (5, 20):
        out[f"rrf_k{k0}"] = lambda q, v, t, k0=k0: fusion.rrf_fuse([v, t], names=["vector", "text"], k0=k0)
    for w in (0.5, 0.6):
        out[f"linear_w{w}"] = lambda q, v, t, w=w: fusion.linear_fuse(v, t, vector_weight=w)
    for w in (0.4, 0.5, 0.6):
        for vs, ts in (("minmax", "minmax"), ("max", "max"), ("max", "minmax")):
            out[f"{vs}+{ts}_w{w}"] = lambda q, v, t, w=w, vs=vs, ts=ts: _scaled_fuse(v, t, w, vs, ts)
        # query-adaptive: more BM25 weight when the query holds a code identifier
        out[f"adaptive_minmax_w{w}"] = lambda q, v, t, w=w: _scaled_fuse(
            v, t, w - 0.15 if _IDENT.search(q) else w, "minmax", "minmax"
        )
    return out


def variants(sweep: bool) -> dict[str, Any]:
    """name -> fuse(query, vector_hits, text_hits) -> hits."""
    out: dict[str, Any] = {
        "rrf_k60": lambda q, v, t: fusion.rrf_fuse([v, t], names=["vector", "text"], k0=60),
        "linear_w0.7_old": lambda q, v, t: fusion.linear_fuse(v, t, vector_weight=0.7),
    }
    if sweep:
        out.update(experiments())
    return out


def lee_dir() -> Path | None:
    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data"
    return path if (path / "lee.cor").exists() else None


def build(work: Path, embedder: Any) -> tuple[RagService, list[Question], dict[str, Any]]:
    rag = RagService(Settings(data_dir=work / "ragset-data"), embedder)
    if not rag.index.exists("ragset"):
        rag.create_collection("ragset")
    t = time.perf_counter()
    report = rag.ingest("ragset", [RAGSET / "docs", RAGSET / "code"], root=RAGSET)
    seconds = time.perf_counter() - t
    rows = rag.index.table("ragset").search().select(["chunk_id", "source", "text"]).limit(None).to_list()
    questions = load_questions()
    unmapped = map_labels(questions, [(r["chunk_id"], r["source"], r["text"]) for r in rows])
    info = {
        "files": report.files_total,
        "chunks": report.chunks,
        "questions": len(questions),
        "ingest_seconds": round(seconds, 1),
        "unmapped_labels": unmapped,
        "mean_answer_chunks": round(sum(len(q.relevant) for q in questions) / len(questions), 2),
    }
    return rag, questions, info


def bench_ragset(work: Path, embedder: Any, *, reranker: Any = None, sweep: bool = False) -> dict[str, Any]:
    rag, questions, info = build(work, embedder)
    try:
        vec, txt = {}, {}
        for q in questions:
            vector = embedder.embed([q.question])[0]
            vec[q.id] = rag.index.vector_search("ragset", vector, DEPTH, None)
            txt[q.id] = rag.index.text_search("ragset", q.question, DEPTH, None)
        runs: dict[str, dict[str, list[str]]] = {
            "vector": {i: _ids(h) for i, h in vec.items()},
            "bm25": {i: _ids(h) for i, h in txt.items()},
        }
        for name, fuse in variants(sweep).items():
            runs[name] = {q.id: _ids(fuse(q.question, vec[q.id], txt[q.id])) for q in questions}
        runs["service"] = {q.id: _ids(rag.search("ragset", q.question, k=K)) for q in questions}
        timings: dict[str, float] = {}
        if reranker is not None:
            rag.reranker = reranker
            t = time.perf_counter()
            runs["service+rerank"] = {q.id: _ids(rag.search("ragset", q.question, k=K)) for q in questions}
            timings["rerank_search_ms_mean"] = round((time.perf_counter() - t) / len(questions) * 1000, 1)
            rag.reranker = None
        groups: dict[str, list[Question]] = {"all": questions}
        for q in questions:
            groups.setdefault(q.set, []).append(q)
            groups.setdefault(f"kind:{q.kind}", []).append(q)
        table = {g: {m: score(r, qs) for m, r in runs.items()} for g, qs in groups.items()}
        sets = [g for g in groups if not g.startswith("kind:")]
        checks = {}
        for g in sets:
            best_part = max(table[g]["vector"]["recall@5"], table[g]["bm25"]["recall@5"])
            best_mrr = max(table[g]["vector"]["mrr@10"], table[g]["bm25"]["mrr@10"])
            checks[g] = {
                "service_recall@5_ge_best_part": table[g]["service"]["recall@5"] >= best_part,
                "service_mrr@10_ge_best_part": table[g]["service"]["mrr@10"] >= best_mrr,
            }
        return {**info, "fusion": rag.fusion, "scores": table, "goal_checks": checks, **timings}
    finally:
        rag.close()


def bench_lee(work: Path, embedder: Any, lee: Path, *, sweep: bool = False) -> dict[str, Any]:
    """The Lee corpus (50 news documents, human similarity ratings; shipped in the gensim wheel):
    each document queries the other 49, graded relevance = human similarity, nDCG@10."""
    import numpy as np

    def lines(path: Path) -> list[str]:
        return [ln.strip() for ln in path.read_bytes().decode("latin-1").splitlines() if ln.strip()]

    docs = lines(lee / "lee.cor")
    sims = np.array([[float(x) for x in ln.split()] for ln in lines(lee / "similarities0-1.txt")])
    sims = np.maximum(sims, sims.T)
    folder = work / "lee"
    folder.mkdir(exist_ok=True)
    for i, text in enumerate(docs):
        (folder / f"doc{i:02d}.txt").write_text(text)
    rag = RagService(Settings(data_dir=work / "lee-data"), embedder)
    if not rag.index.exists("lee"):
        rag.create_collection("lee")
    rag.ingest("lee", [folder], root=work)
    try:
        fusers: dict[str, Any] = {"vector": lambda q, v, t: v, "bm25": lambda q, v, t: t}
        fusers.update(variants(sweep))
        runs: dict[str, list[float]] = {m: [] for m in [*fusers, "service"]}
        for i, doc in enumerate(docs):
            q = doc[:3000]
            v = rag.index.vector_search("lee", embedder.embed([q])[0], DEPTH, None)
            t = rag.index.text_search("lee", q, DEPTH, None)
            gains = {j: float(sims[i, j]) for j in range(len(docs)) if j != i}
            ideal = sorted(gains.values(), reverse=True)[:K]
            idcg = sum(g / np.log2(r + 2) for r, g in enumerate(ideal))
            outs = {m: fuse(q, v, t) for m, fuse in fusers.items()}
            outs["service"] = rag.search("lee", q, k=DEPTH)
            for m, hits in outs.items():
                ranked: list[int] = []
                for h in hits:
                    d = int(Path(h["source"]).stem[3:])
                    if d != i and d not in ranked:
                        ranked.append(d)
                dcg = sum(gains.get(d, 0.0) / np.log2(r + 2) for r, d in enumerate(ranked[:K]))
                runs[m].append(dcg / idcg)
        table = {m: round(float(np.mean(v)), 4) for m, v in runs.items()}
        return {
            "documents": len(docs),
            "ndcg@10": table,
            "service_ge_best_part": table["service"] >= max(table["vector"], table["bm25"]),
        }
    finally:
        rag.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", action="store_true", help="also score every fusion variant tried")
    ap.add_argument("--data-dir", default=None, help="keep the indexes here (a rerun skips the ingest)")
    ap.add_argument("--rerank-model", default=None, help="a reranker GGUF path or endpoint/model")
    args = ap.parse_args()
    from jupyter_chat_ext.engine.embeddings import Embedder

    reranker = None
    if args.rerank_model:
        from jupyter_chat_ext.rag.rerank import make_reranker

        reranker = make_reranker(args.rerank_model, Settings())
    embedder = Embedder()
    with tempfile.TemporaryDirectory(prefix="bench-ragset-") as tmp:
        work = Path(args.data_dir or tmp)
        result = bench_ragset(work, embedder, reranker=reranker, sweep=args.sweep)
        lee = lee_dir()
        if lee is not None:
            result = {"ragset": result, "lee": bench_lee(work, embedder, lee, sweep=args.sweep)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
