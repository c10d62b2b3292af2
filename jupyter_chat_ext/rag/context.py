"""Turn search hits into the prompt context and the matching citation list.

The context numbers each passage ``[1]``, ``[2]``, ... and the citation at index ``n - 1`` is the
passage ``[n]``; passages are added best first until ``budget_tokens`` is spent (the last one is
cut to fit when enough room is left, otherwise dropped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .chunkers import describe_location

MIN_PASSAGE_TOKENS = 24


def _header(n: int, hit: dict[str, Any]) -> str:
    label = describe_location(hit.get("location") or {})
    return f"[{n}] {hit.get('source', '')}" + (f" ({label})" if label else "")


def _cut(text: str, budget: int, count_tokens: Callable[[str], int]) -> str:
    """The longest prefix of ``text`` (at a word boundary) within ``budget`` tokens."""
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on characters; counts are monotone enough for prefixes
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    space = cut.rfind(" ")
    if space > 0 and lo < len(text):
        cut = cut[:space]
    return cut.rstrip() + (" …" if lo < len(text) else "")


def format_context(
    hits: list[dict[str, Any]],
    budget_tokens: int,
    count_tokens: Callable[[str], int],
) -> tuple[str, list[dict[str, Any]]]:
    """-> (context text with numbered passages, citations [{index, source, location, score, text}])."""
    parts: list[str] = []
    citations: list[dict[str, Any]] = []
    used = 0
    for hit in hits:
        n = len(citations) + 1
        header = _header(n, hit)
        text = (hit.get("text") or "").strip()
        if not text:
            continue
        block = f"{header}\n{text}"
        cost = count_tokens(block) + 2
        if used + cost > budget_tokens:
            room = budget_tokens - used - count_tokens(header) - 3
            if room < MIN_PASSAGE_TOKENS:
                break
            text = _cut(text, room, count_tokens)
            block = f"{header}\n{text}"
            cost = count_tokens(block) + 2
            if used + cost > budget_tokens:
                break
        parts.append(block)
        used += cost
        citations.append(
            {
                "index": n,
                "source": hit.get("source", ""),
                "location": dict(hit.get("location") or {}),
                "location_label": describe_location(hit.get("location") or {}),
                "score": hit.get("score"),
                "text": text,
                "chunk_id": hit.get("chunk_id"),
            }
        )
    return "\n\n".join(parts), citations
