"""How a runtime's events reach the event loop (engine/engine.py ``_ThreadSink``).

Events from the decode thread ride along with a wake-up already on its way; with
``token_events=False`` (a non-streamed /v1 answer) only the done or error event wakes the loop.
Either way every event arrives, in order. The packaged model really generates here.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from jupyter_chat_ext.engine.engine import Engine, _ThreadSink

MSGS = [{"role": "user", "content": "Count from 1 to 20."}]
OPTS = {"max_tokens": 16, "temperature": 0}


async def _collect(engine: Engine, token_events: bool) -> list[dict[str, Any]]:
    return [e async for e in engine.stream(None, MSGS, OPTS, token_events=token_events)]


async def test_collected_stream_has_the_same_events(engine: Engine) -> None:
    streamed = await _collect(engine, True)
    collected = await _collect(engine, False)
    for events in (streamed, collected):
        kinds = [e["type"] for e in events]
        assert kinds[-1] == "done" and set(kinds[:-1]) == {"token"} and len(kinds) > 5
        assert "".join(e["text"] for e in events[:-1]) == events[-1]["text"]
    assert [e["text"] for e in collected] == [e["text"] for e in streamed]  # greedy: the same answer
    assert collected[-1]["metrics"]["completion_tokens"] == 16


def _wakes(loop: asyncio.AbstractEventLoop) -> list[int]:
    """Count the wake-ups a sink asks the loop for (its call_soon_threadsafe calls)."""
    count = [0]
    real = loop.call_soon_threadsafe

    def counting(callback: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(callback, "__name__", "") == "_drain":  # not the executor's own wake-ups
            count[0] += 1
        return real(callback, *args, **kwargs)

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    return count


async def _send_from_thread(sink: _ThreadSink, n: int) -> None:
    def produce() -> None:
        for i in range(n):
            sink({"type": "token", "text": str(i)})
        sink({"type": "done", "text": ""})

    thread = threading.Thread(target=produce)
    thread.start()
    await asyncio.to_thread(thread.join)


async def test_sink_delivers_every_event_in_order() -> None:
    loop = asyncio.get_running_loop()
    wakes = _wakes(loop)
    got: list[dict[str, Any]] = []
    await _send_from_thread(_ThreadSink(loop, got.append), 500)
    await asyncio.sleep(0)
    assert [e["text"] for e in got[:-1]] == [str(i) for i in range(500)] and got[-1]["type"] == "done"
    assert 1 <= wakes[0] <= 501  # events that came while a wake-up was pending rode along


async def test_sink_without_token_events_wakes_once_at_the_end() -> None:
    loop = asyncio.get_running_loop()
    wakes = _wakes(loop)
    got: list[dict[str, Any]] = []
    sink = _ThreadSink(loop, got.append, wake_per_event=False)
    await _send_from_thread(sink, 200)
    await asyncio.sleep(0)
    assert wakes[0] == 1
    assert [e["text"] for e in got[:-1]] == [str(i) for i in range(200)] and got[-1]["type"] == "done"


async def test_sink_error_event_wakes_too() -> None:
    loop = asyncio.get_running_loop()
    got: list[dict[str, Any]] = []
    sink = _ThreadSink(loop, got.append, wake_per_event=False)

    def produce() -> None:
        sink({"type": "token", "text": "a"})
        sink({"type": "error", "code": "generation_failed"})

    await asyncio.to_thread(produce)
    for _ in range(100):  # the wake-up is scheduled: a few loop turns deliver it
        if len(got) == 2:
            break
        await asyncio.sleep(0.01)
    assert [e["type"] for e in got] == ["token", "error"]
