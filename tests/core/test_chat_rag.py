"""A RAG chat turn: retrieved chunks go into the prompt and the answer carries its citations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jupyter_chat_ext.chat.service import ChatService
from jupyter_chat_ext.errors import InvalidInput, NotFound


async def collect(gen: Any) -> list[dict[str, Any]]:
    return [event async for event in gen]


async def test_rag_turn_stores_citations(rag_chat_service: ChatService, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zorblax.md").write_text(
        "# Zorblax\n\nThe planet Zorblax has three purple moons called Ib, Ob and Ub.\n"
    )
    (docs / "cooking.md").write_text("# Bread\n\nBread is baked from flour, water, salt and yeast.\n")
    svc = rag_chat_service
    svc.rag.create_collection("notes")
    report = svc.rag.ingest("notes", [str(docs)])
    assert report.files_done == 2 and report.chunks >= 2
    s = svc.create_session()
    events = await collect(
        svc.chat(
            s["id"],
            "How many moons does Zorblax have?",
            {"max_tokens": 24},
            rag={"collection": "notes", "k": 2},
        )
    )
    done = events[-1]
    assert done["type"] == "done"
    cites = done["citations"]
    assert cites and cites[0]["source"].endswith("zorblax.md")
    assert "purple moons" in cites[0]["text"]
    # the retrieved passages were in the prompt: far longer than the question alone
    assert done["metrics"]["prompt_tokens"] > 60
    stored = svc.list_messages(s["id"])
    assert stored[-1]["metadata"]["citations"][0]["source"].endswith("zorblax.md")
    assert stored[0]["metadata"]["rag"]["collection"] == "notes"
    # regenerate keeps retrieving from the same collection
    again = await collect(svc.regenerate(s["id"], {"max_tokens": 8}))
    assert again[-1]["citations"][0]["source"].endswith("zorblax.md")


async def test_rag_bad_input(rag_chat_service: ChatService) -> None:
    s = rag_chat_service.create_session()
    with pytest.raises(NotFound):
        await collect(rag_chat_service.chat(s["id"], "hi", rag={"collection": "missing"}))
    with pytest.raises(InvalidInput):
        await collect(rag_chat_service.chat(s["id"], "hi", rag={"collection": "x", "k": 0}))
    with pytest.raises(InvalidInput):
        await collect(rag_chat_service.chat(s["id"], "hi", rag=3))
    with pytest.raises(NotFound):  # a name alone is a spec (wire/chat.py RagField), looked up
        await collect(rag_chat_service.chat(s["id"], "hi", rag="notes"))
    assert rag_chat_service.list_messages(s["id"]) == []
