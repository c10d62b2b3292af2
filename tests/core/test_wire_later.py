"""A route's ``Later`` shapes are imported off the event loop by its first request (wire/ops.py)."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from jupyter_chat_ext.wire.ops import Later, _later, op, wire_op

SHAPES = """
import threading
from pydantic import BaseModel

IMPORTED_ON = threading.current_thread().name


class Body(BaseModel):
    x: int
"""


def test_the_first_request_imports_later_shapes_on_a_worker_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "later_shapes_for_test.py").write_text(SHAPES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "later_shapes_for_test", raising=False)

    class Handler:
        def json_body(self, required: bool = True) -> dict:
            return {"x": 41}

        @op(body=Later("later_shapes_for_test:Body"))
        async def post(self, body: object) -> int:
            return body.x + 1  # type: ignore[attr-defined]

    loop_thread: list[str] = []

    async def two_requests() -> list[int]:
        loop_thread.append(threading.current_thread().name)
        return [await Handler().post(), await Handler().post()]

    assert asyncio.run(two_requests()) == [42, 42]
    module = sys.modules["later_shapes_for_test"]
    assert loop_thread[0] != module.IMPORTED_ON, "the shapes were imported on the event loop"
    assert not _later(Handler.post)  # the second request found the shapes resolved, no thread hop
    spec = wire_op(Handler.post)
    assert spec is not None and spec.body is module.Body  # resolved once, kept
