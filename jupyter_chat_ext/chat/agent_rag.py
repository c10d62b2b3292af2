"""Retrieval for an agent turn: one search before the first step, as a plain RAG turn does.

A sidebar user with a default collection and Tools on sends ``rag`` and ``tools`` together. The
collection is searched once, with the user's question, before anything is written; the numbered
passages join the system message (after the session's own system prompt and the same
instructions a plain turn gives), so the first step reads them and every later step too (each
step's messages start with the first step's). The citations travel with the turn and end on the
row the final ``done`` event names, exactly where a plain turn keeps them.

The passages get half of the room the tool schemas and the question leave (a plain turn gives
half of the whole prompt budget): the schemas and the tool results of later steps need room too.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from .inputs import RagSpec
from .turns import RAG_INSTRUCTIONS

if TYPE_CHECKING:
    from ..engine.engine import Budget, Engine
    from ..rag.service import RagService

#: the fewest tokens the passages get, however full the prompt is (fit_messages refuses with 413
#: when the whole prompt does not fit, naming the figures)
MIN_CONTEXT_TOKENS = 64


async def check_collection(rag: RagService | None, spec: RagSpec | None) -> None:
    """NotFound before anything else, as a plain turn does (the lookup reads LanceDB: a thread)."""
    if spec is not None:
        assert rag is not None  # inputs.rag refused the spec when retrieval is unavailable
        await asyncio.to_thread(rag.get_collection, spec.collection)


async def retrieve(
    rag: RagService,
    engine: Engine,
    spec: RagSpec,
    *,
    model_id: str,
    budget: Budget,
    question: str,
    system: str | None,
    offered: list[dict[str, Any]],
) -> tuple[str | None, list[dict[str, Any]]]:
    """-> (the system text with the passages folded in, the citations). Search, embedding and
    token counts block: they run on a worker thread."""

    def work() -> tuple[str | None, list[dict[str, Any]]]:
        from ..rag.context import format_context

        def count(text: str) -> int:
            return engine.count_tokens(model_id, text)

        room = budget.prompt - count(json.dumps(offered)) - count(question) - (count(system) if system else 0)
        hits = rag.search(spec.collection, question, k=spec.k, mode=spec.mode)
        text, citations = format_context(hits, max(MIN_CONTEXT_TOKENS, room // 2), count)
        if not text:  # nothing relevant (or an empty collection): the prompt stays as it was
            return system, citations
        return "\n\n".join(p for p in (system, RAG_INSTRUCTIONS, text) if p), citations

    return await asyncio.to_thread(work)
