"""The dev set's questions, their answer labels mapped to chunk ids, and the ranking metrics.

A label is ``{"source": "docs/try.txt", "contains": "<a phrase of the answer>"}``: the answer is
whichever chunk(s) of that file hold the phrase (whitespace-insensitive), found when the index is
built. So a chunker change moves the label with the text instead of silently breaking it; a phrase
that no chunk holds whole (it now straddles a boundary) falls back to its longest prefix that one
chunk holds (at least 24 characters), and a label that maps to nothing is reported, never dropped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "questions.jsonl"
MIN_PREFIX = 24
_WS = re.compile(r"\s+")


def squash(text: str) -> str:
    return _WS.sub(" ", text).strip()


@dataclass
class Question:
    id: str
    set: str
    kind: str
    question: str
    answers: list[dict[str, str]]
    #: chunk ids holding an answer (filled by map_labels)
    relevant: set[str] = field(default_factory=set)


def load_questions(path: Path = QUESTIONS) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [Question(r["id"], r["set"], r["kind"], r["question"], r["answers"]) for r in rows]


def _holders(phrase: str, chunks: Sequence[tuple[str, str]]) -> set[str]:
    return {cid for cid, text in chunks if phrase in text}


def map_labels(questions: Iterable[Question], chunks: Iterable[tuple[str, str, str]]) -> list[str]:
    """Fill ``q.relevant`` from ``(chunk_id, source, text)`` rows; returns the ids left unmapped."""
    by_source: dict[str, list[tuple[str, str]]] = {}
    for cid, source, text in chunks:
        by_source.setdefault(source, []).append((cid, squash(text)))
    unmapped = []
    for q in questions:
        q.relevant = set()
        for answer in q.answers:
            rows = by_source.get(answer["source"], [])
            phrase = squash(answer["contains"])
            found = _holders(phrase, rows)
            cut = len(phrase)
            while not found and cut > MIN_PREFIX:  # straddles a chunk boundary: its longest held prefix
                cut -= 4
                found = _holders(phrase[: max(cut, MIN_PREFIX)], rows)
            q.relevant |= found
        if not q.relevant:
            unmapped.append(q.id)
    return unmapped


def recall_at(ranked: Sequence[str], relevant: set[str], k: int = 5) -> float:
    """1 when any answer chunk is in the first k (the question is answerable from the context)."""
    return 1.0 if relevant & set(ranked[:k]) else 0.0


def mrr_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    for rank, cid in enumerate(ranked[:k], start=1):
        if cid in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(r + 2) for r, cid in enumerate(ranked[:k]) if cid in relevant)
    idcg = sum(1.0 / math.log2(r + 2) for r in range(min(len(relevant), k)))
    return dcg / idcg if idcg else 0.0


def score(runs: dict[str, list[str]], questions: Sequence[Question]) -> dict[str, float]:
    """Mean recall@5, MRR@10, nDCG@10 of ``runs`` (question id -> ranked chunk ids)."""
    n = max(len(questions), 1)
    return {
        "recall@5": round(sum(recall_at(runs[q.id], q.relevant) for q in questions) / n, 4),
        "mrr@10": round(sum(mrr_at(runs[q.id], q.relevant) for q in questions) / n, 4),
        "ndcg@10": round(sum(ndcg_at(runs[q.id], q.relevant) for q in questions) / n, 4),
    }
