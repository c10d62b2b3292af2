"""Stream one answer from the engine into the store: the event loop side of a turn.

Order of a turn's writes: every check has passed and the prompt is built before ``begin`` runs
(capacity is checked right before it), so a refused or invalid turn writes nothing. The answer row
is created with status "streaming", checkpointed about once a second, and finished by ONE store
call (``finish_message``: content, status, metadata, metrics, token count) whichever way the stream
ends: done -> complete, engine error -> error, consumer gone -> interrupted (partial kept).

Every store and tokenizer call runs on a worker thread (``asyncio.to_thread``): a turn never
blocks the event loop that also serves Jupyter.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from ..errors import ChatExtError, Unavailable, error_from_event, event_status
from .checkpoint import Checkpointer
from .titles import needs_title, title_from
from .turn_state import Event, Turn

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..store.store import Store

log = logging.getLogger(__name__)

_METRIC_KEYS = ("prompt_tokens", "completion_tokens", "ttft_s", "tokens_per_s", "total_s", "model", "device")


async def stream_answer(
    store: Store,
    engine: Engine,
    turn: Turn,
    begin: Callable[[], None],
    undo: Callable[[], None],
    *,
    checkpoint_interval: float | None = None,
) -> AsyncIterator[Event]:
    """Write the turn's rows (``begin``), stream the answer, finish its row; yield turn events.

    ``start`` is held until the engine's first event: when the engine refuses the request (busy:
    a burst got past ``check_capacity`` together; unavailable; bad input), ``undo`` removes what
    ``begin`` wrote and the typed error is raised before any event, so a refused turn leaves no
    rows and a client's retry on 429/503 duplicates nothing.
    """
    engine.check_capacity(turn.model_id)  # refuse before the first write
    await asyncio.to_thread(begin)
    assert turn.answer is not None
    kwargs = {} if checkpoint_interval is None else {"interval": checkpoint_interval}
    ckpt = Checkpointer(store, turn.answer["id"], **kwargs)
    if turn.messages is not None:  # an agent step: messages + tools, rendered by the engine
        stream = engine.stream(turn.model_id, turn.messages, turn.opts, structured=turn.structured)
    else:
        stream = engine.stream_text(turn.model_id, turn.prompt, turn.opts)
    started = finished = False
    try:
        try:
            async for event in stream:
                if not started:
                    if event["type"] == "error" and _is_refusal(event_status(event)):
                        raise error_from_event(event)
                    started = True
                    yield turn.start_event()
                if event["type"] == "token":
                    if turn.first is None:
                        turn.first = time.perf_counter()
                    turn.parts.append(event["text"])
                    turn.token_events += 1
                    ckpt.offer(lambda: (turn.text, turn.tokens_so_far))
                    yield {"type": "token", "text": event["text"]}
                elif event["type"] == "done":
                    finished = True
                    yield await _finish(store, engine, turn, event, ckpt)
                    return
                elif event["type"] == "error":
                    finished = True
                    yield await _fail(store, turn, ckpt, error_from_event(event))
                    return
        except ChatExtError as exc:
            if not started and _is_refusal(exc.status):
                finished = True
                await ckpt.final(undo)
                raise
            finished = True
            if not started:
                yield turn.start_event()
            yield await _fail(store, turn, ckpt, exc)
    finally:
        if not finished:  # the consumer went away (disconnect, Ctrl-C, task cancelled)
            try:
                await stream.aclose()  # cancels the engine request within one decode step
            except BaseException:
                pass
            await _interrupt(store, engine, turn, ckpt)


def _is_refusal(status: int) -> bool:
    """The engine turned the request down before generating: bad input, busy, unavailable.

    A 500 (a model fault) is not a refusal: its answer row is kept with status "error"."""
    return 400 <= status < 500 or status == Unavailable.status


async def _finish(store: Store, engine: Engine, turn: Turn, event: Event, ckpt: Checkpointer) -> Event:
    assert turn.answer is not None and turn.user is not None
    reason = event["finish_reason"]
    status = "interrupted" if reason == "cancelled" else "complete"
    metrics = dict(event["metrics"])
    turn.parts = [event["text"]]  # the engine's final text (stop strings trimmed) is the truth
    # a continued answer's row counts all of its tokens, so the session's sums stay right
    metrics["completion_tokens"] = turn.prefix_tokens + int(metrics["completion_tokens"])
    row = {k: metrics.get(k) for k in _METRIC_KEYS}
    row["finish_reason"] = reason
    meta = {**turn.metadata(), "finish_reason": reason, "seed": metrics.get("seed")}
    if event.get("tool_calls"):  # an agent step that called tools: the calls belong to its row
        meta["tool_calls"] = event["tool_calls"]
        meta.pop("citations", None)  # ... and the sources go with the answer that follows
    answer_id, session, user_text = turn.answer["id"], turn.session, turn.user["content"]
    text = turn.text

    def write() -> None:
        store.finish_message(
            answer_id,
            content=text,
            status=status,
            metadata=meta,
            metrics=row,
            tokens=row["completion_tokens"],
        )
        if needs_title(session.get("title")):
            try:
                store.update_session(session["id"], title=title_from(user_text, text))
            except ChatExtError:  # the session was deleted meanwhile
                pass

    await ckpt.final(write)
    done = turn.done_event(status, reason, metrics)
    if event.get("tool_calls"):
        done["tool_calls"] = event["tool_calls"]  # for the agent loop (chat/agent.py)
    return done


async def _fail(store: Store, turn: Turn, ckpt: Checkpointer, exc: ChatExtError) -> Event:
    assert turn.answer is not None
    answer_id, partial = turn.answer["id"], turn.text
    meta = {**turn.metadata(), "error": {"code": exc.code, "message": exc.message}}

    def write() -> None:
        store.finish_message(answer_id, content=partial, status="error", metadata=meta, tokens=None)

    try:
        await ckpt.final(write)
    except Exception:  # the error event still reaches the client
        log.exception("could not store the failed answer")
    return exc.to_event(message_id=answer_id)


async def _interrupt(store: Store, engine: Engine, turn: Turn, ckpt: Checkpointer) -> None:
    assert turn.answer is not None
    answer_id, model_id, new_text, text = turn.answer["id"], turn.model_id, "".join(turn.parts), turn.text
    meta = {**turn.metadata(), "finish_reason": "cancelled"}
    started, first, now = turn.started, turn.first, time.perf_counter()
    prefix_tokens = turn.prefix_tokens

    def write() -> None:
        new_tokens = engine.count_tokens(model_id, new_text) if new_text else 0
        decode = now - first if first is not None else 0.0
        tokens = prefix_tokens + new_tokens
        metrics = {
            "prompt_tokens": 0,
            "completion_tokens": tokens,
            "ttft_s": (first - started) if first is not None else 0.0,
            "tokens_per_s": (new_tokens / decode) if decode > 0 else 0.0,
            "total_s": now - started,
            "model": model_id,
            "device": str(engine.get_model(model_id).get("device")),
            "finish_reason": "cancelled",
        }
        store.finish_message(
            answer_id, content=text, status="interrupted", metadata=meta, metrics=metrics, tokens=tokens
        )

    try:
        await ckpt.final(write)
    except Exception:
        log.exception("could not store the interrupted answer")
