"""An agent turn that ends without any call when the user clearly asked for one says so in its
done event (issue 20: two plain requests to add a cell gave prose, and nothing told the user why).
The packaged model, real store, the built-in tools; ``tool_choice: "none"`` makes "no call" certain."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_chat_ext.chat.service import ChatService
from jupyter_chat_ext.settings import Settings
from jupyter_chat_ext.store.store import Store
from jupyter_chat_ext.tools import ToolRegistry

PARAMS = {"temperature": 0, "seed": 7, "max_tokens": 12}
NO_CALL = {"names": ["read_file"], "client": ["insert_cell"], "tool_choice": "none", "max_steps": 2}


@pytest.fixture
def service(tmp_path, engine) -> Iterator[ChatService]:
    settings = Settings(data_dir=tmp_path / "data")
    registry = ToolRegistry(root=tmp_path)
    svc = ChatService(Store(settings.db_path), engine, settings, tools=registry)
    yield svc
    svc.close(close_engine=False)
    registry.close()


async def last_event(svc: ChatService, content: str) -> dict[str, Any]:
    s = svc.create_session()
    events = [e async for e in svc.chat(s["id"], content, PARAMS, tools=NO_CALL)]
    return events[-1]


async def test_a_turn_without_the_call_asked_for_says_so(service: ChatService) -> None:
    done = await last_event(service, "Add a cell that prints hello.")
    assert done["type"] == "done" and done["steps"] == 1
    assert "without calling a tool" in done["note"] and "'Add a cell'" in done["note"]
    named = await last_event(service, "Show me notes.txt with read_file.")
    assert "'read_file'" in named["note"]  # a tool named by its name
    # a question that asks for no call gets no note
    plain = await last_event(service, "What is a Python list?")
    assert plain["type"] == "done" and "note" not in plain
