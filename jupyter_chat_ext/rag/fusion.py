"""Fusion of the vector and full-text hit lists for hybrid search: convex combination (default) or RRF."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

RRF_K = 60


def rrf_fuse(  # reciprocal-rank fusion (Cormack et al. 2009): sum of 1 / (k0 + rank)
    ranked_lists: Sequence[Sequence[dict[str, Any]]],
    *,
    names: Sequence[str] | None = None,
    k0: int = RRF_K,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Fuse lists of hits (each best first, keyed by ``chunk_id``); keeps each list's own score."""
    names = list(names) if names is not None else [str(i) for i in range(len(ranked_lists))]
    fused: dict[str, dict[str, Any]] = {}
    for name, hits in zip(names, ranked_lists, strict=True):
        for rank, hit in enumerate(hits, start=1):
            cid = hit["chunk_id"]
            entry = fused.get(cid)
            if entry is None:
                entry = fused[cid] = {**hit, "score": 0.0, "scores": {}}
            entry["score"] += 1.0 / (k0 + rank)
            entry["scores"][name] = hit.get("score")
    out = sorted(fused.values(), key=lambda h: -h["score"])
    return out[:limit] if limit is not None else out


#: weight of the vector list in the convex combination (LanceDB's LinearCombinationReranker default)
VECTOR_WEIGHT = 0.7


def linear_fuse(
    vector_hits: Sequence[dict[str, Any]],
    text_hits: Sequence[dict[str, Any]],
    *,
    vector_weight: float = VECTOR_WEIGHT,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Convex combination: ``w * cosine + (1 - w) * bm25 / max(bm25)`` over both candidate lists.

    Convex combination of scores beat RRF in Bruch, Gai & Ingber (ACM TOIS 2023, "An Analysis of
    Fusion Functions for Hybrid Retrieval"). The cosine is kept on its own absolute scale (clipped
    to 0..1) and BM25 is divided by the best BM25 of the query, so a lone exact match of a rare
    term (an identifier) keeps its full weight. Measured here (bench/bench_rag.py): on the Lee
    corpus this beats vector-only (nDCG@10), where RRF does not, and it ranks a rare identifier's
    chunk first where vector-only misses it. A chunk missing from one list gets 0 from that list.
    """
    best_text = max((float(h["score"]) for h in text_hits), default=0.0)
    fused: dict[str, dict[str, Any]] = {}
    for name, hits in (("vector", vector_hits), ("text", text_hits)):
        for hit in hits:
            entry = fused.setdefault(hit["chunk_id"], {**hit, "scores": {}})
            entry["scores"][name] = hit.get("score")
    for entry in fused.values():
        cos = entry["scores"].get("vector")
        bm25 = entry["scores"].get("text")
        v = min(max(float(cos), 0.0), 1.0) if cos is not None else 0.0
        t = float(bm25) / best_text if bm25 is not None and best_text > 0 else 0.0
        entry["score"] = vector_weight * v + (1.0 - vector_weight) * t
    out = sorted(fused.values(), key=lambda h: -h["score"])
    return out[:limit] if limit is not None else out
