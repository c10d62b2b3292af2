"""The checkpointer keeps the stored text close behind the streamed text (real DuckDB store).

A crash loses at most about one interval of text: a token that arrives too soon after the last
write arms a timer, and text offered while a write is in flight is written right after it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from jupyter_chat_ext.chat.checkpoint import Checkpointer
from jupyter_chat_ext.store.store import Store


def _streaming_row(store: Store) -> int:
    s = store.create_session(title="t")
    return store.add_message(s["id"], "assistant", "", status="streaming")["id"]


async def test_text_offered_between_writes_is_stored_without_another_token(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.duckdb")
    try:
        mid = _streaming_row(store)
        ckpt = Checkpointer(store, mid, interval=0.2)
        parts = ["Hello"]
        ckpt.offer(lambda: ("".join(parts), len(parts)))  # too soon after start: a timer is armed
        await asyncio.sleep(0.05)
        parts.append(" world")  # a slow model: this is the last token for a long while
        ckpt.offer(lambda: ("".join(parts), len(parts)))
        for _ in range(100):
            await asyncio.sleep(0.05)
            if store.get_message(mid)["content"] == "Hello world":
                break
        assert store.get_message(mid)["content"] == "Hello world"
        assert ckpt.written >= 1
        # the final write closes the door: nothing offered later reaches the store
        await ckpt.final(
            lambda: store.finish_message(
                mid, content="Hello world!", status="complete", metadata={}, metrics=None, tokens=3
            )
        )
        ckpt.offer(lambda: ("late", 1))
        await asyncio.sleep(0.3)
        row = store.get_message(mid)
        assert (row["content"], row["status"]) == ("Hello world!", "complete")
    finally:
        store.close()
