"""The optional re-ranking step after retrieval (default: none).

Anything with ``name`` and ``rerank(query, hits) -> hits`` fits; RagService calls it on the fused
candidates (a few times ``k``) and keeps the first ``k`` it returns. No PyPI package ships a
cross-encoder here and nothing may download one, so the package provides the interface and a
reranker built on any embedder (a second opinion on the text, e.g. a bigger local model).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Reranker(Protocol):
    name: str

    def rerank(self, query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]: ...


class EmbeddingReranker:
    """Re-score candidates by cosine similarity of freshly embedded query and chunk texts."""

    def __init__(self, embedder: Any, name: str | None = None) -> None:
        self.embedder = embedder
        self.name = name or f"embedding:{getattr(embedder, 'model_id', 'unknown')}"

    def rerank(self, query: str, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not hits:
            return hits
        vectors = self.embedder.embed([query] + [h["text"] for h in hits])
        scores = vectors[1:] @ vectors[0]
        order = np.argsort(-scores, kind="stable")
        out = []
        for i in order:
            hit = dict(hits[int(i)])
            hit["retrieval_score"] = hit.get("score")
            hit["score"] = float(scores[int(i)])
            out.append(hit)
        return out
