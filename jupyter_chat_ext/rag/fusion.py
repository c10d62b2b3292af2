"""Fusion of the vector and full-text hit lists for hybrid search.

The default, ``minmax_fuse``, is a convex combination of min-max normalised scores (Elastic's
``linear`` retriever with its ``minmax`` normaliser; Bruch, Gai & Ingber, ACM TOIS 2023, found a
normalised convex combination beats RRF), weight 0.5, and query-adaptive: 0.35 on the vector side
when the query holds a code identifier (``foo_bar``, ``a.b``, ``fooBar``, ``f()``), so a lone exact
match of a rare identifier ranks first. Chosen by ``bench/bench_rag_quality.py --sweep`` on the
dev set (bench/ragset: 185 questions over Python's docs and code) and the Lee news set, with the
rule that hybrid never scores below the better of its parts on any set (recall@5 / MRR@10; Lee:
nDCG@10; vector-only, BM25-only -> this fusion):

    docs  0.805/0.646, 0.823/0.685 -> 0.894/0.707     code 0.889/0.653, 0.861/0.652 -> 0.944/0.707
    Lee nDCG@10   0.8685, 0.8110 -> 0.8757

What lost: RRF (k 5..60; 60 is Elastic's default) ties on the dev set but falls below vector search
on Lee (0.861-0.864), where BM25 is weak and a rank-only fusion cannot see it; the previous mix
(raw cosine + BM25 / max, vector weight 0.7) loses recall on the dev set (0.903 vs 0.913) and lost
to vector search on an outside 15k-chunk corpus (issue 22): MiniLM cosines crowd into 0.3..0.6
while BM25 / max spans 0..1, so the unscaled mix lets BM25 decide. Scaling by the maximum only
(Bruch's "theoretical" min-max) scored 0.892 recall@5; weights 0.4..0.6 form a plateau.
"""

from __future__ import annotations

import re
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


#: weight of the vector list in linear_fuse (LanceDB's LinearCombinationReranker default)
VECTOR_WEIGHT = 0.7
#: weight of the vector list in minmax_fuse (the middle of the measured plateau 0.4..0.6)
MINMAX_VECTOR_WEIGHT = 0.5
#: ... and when the query holds a code identifier: BM25 sees exact names the embedding blurs
IDENTIFIER_VECTOR_WEIGHT = 0.35
#: snake_case, dotted.names, camelCase / CamelCase, call()
IDENTIFIER = re.compile(r"[A-Za-z_]\w*(?:_\w*|\.\w+|\(\))|[a-z]+[A-Z]\w*|[A-Z][a-z0-9]+[A-Z]\w*")


def vector_weight_for(query: str) -> float:
    """The query-adaptive vector weight of minmax_fuse."""
    return IDENTIFIER_VECTOR_WEIGHT if IDENTIFIER.search(query) else MINMAX_VECTOR_WEIGHT


def _minmax(hits: Sequence[dict[str, Any]]) -> dict[str, float]:
    """chunk_id -> score scaled to 0..1 within its list (all 1.0 when the list has one score)."""
    scores = [float(h["score"]) for h in hits]
    if not scores:
        return {}
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {h["chunk_id"]: (float(h["score"]) - lo) / span if span > 0 else 1.0 for h in hits}


def minmax_fuse(
    vector_hits: Sequence[dict[str, Any]],
    text_hits: Sequence[dict[str, Any]],
    *,
    vector_weight: float = MINMAX_VECTOR_WEIGHT,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """``w * minmax(cosine) + (1 - w) * minmax(bm25)``; a chunk missing from a list gets 0 there
    (and None in its ``scores``, which always names both lists).

    Scaling each list to 0..1 puts both retrievers on one scale whatever the corpus: raw cosines of
    MiniLM crowd into 0.3..0.6 while BM25 / max spans 0..1, so an unscaled mix lets BM25 decide.
    Ties (equal fused scores) keep the order of the better reciprocal rank.
    """
    norm = {"vector": _minmax(vector_hits), "text": _minmax(text_hits)}
    weight = {"vector": vector_weight, "text": 1.0 - vector_weight}
    fused: dict[str, dict[str, Any]] = {}
    for name, hits in (("vector", vector_hits), ("text", text_hits)):
        for rank, hit in enumerate(hits, start=1):
            entry = fused.setdefault(
                hit["chunk_id"], {**hit, "score": 0.0, "scores": {"vector": None, "text": None}, "_rr": 0.0}
            )
            entry["scores"][name] = hit.get("score")
            entry["score"] += weight[name] * norm[name][hit["chunk_id"]]
            entry["_rr"] += 1.0 / (RRF_K + rank)
    out = sorted(fused.values(), key=lambda h: (-h["score"], -h["_rr"]))
    for entry in out:
        del entry["_rr"]
    return out[:limit] if limit is not None else out


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
