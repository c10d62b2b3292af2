"""Driving a ChatService event generator into one HTTP response (SSE or a collected answer).

The pump pulls events from the async generator of a turn and hands each to a writer. Nothing is
committed before the first event (validation, model load and prompt building happen first), and a
start event is held back a moment, so that an error before any token (bad params, a prompt over
budget, a full queue) still answers as a JSON error with its own status instead of a 200 stream.
An error *event* that arrives before the commit is answered from the event itself (its ``status``
was decided in the core; the door only translates). When the client goes away (tornado's
``on_connection_close`` or a flush that raises StreamClosedError) the pending step is cancelled and
the generator closed, so the engine stops within one decode step and the ChatService stores the
partial answer as "interrupted".

What a turn's events hold is declared once, in ``wire/chat.py`` (``TurnEvent``: start, token,
done, tool_call, tool_result, step, error); the handlers name it in their ``@op(stream=...)``, and
the pump writes each event as it came: ``event: <type>`` and its JSON on one ``data:`` line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from tornado.iostream import StreamClosedError

from jupyter_chat_ext.errors import ChatExtError, event_status, retry_after_header

from .base import ChatExtHandler, dumps

#: how long (from the request) a start event may be held back while waiting for the first token
PREFETCH_S = 1.0
#: an SSE comment goes out after this long without an event (an agent turn waiting for the user's
#: approval, a slow model load): proxies and browsers drop connections that stay silent for minutes
KEEPALIVE_S = 15.0

#: one event of a turn as the core yields it (its shape: ``wire/chat.py`` TurnEvent)
Event = dict[str, Any]


def sse_frame(event_type: str, data: Any) -> str:
    """One server-sent event: ``event: <type>\\ndata: <json>\\n\\n`` (json is one line)."""
    return f"event: {event_type}\ndata: {dumps(data)}\n\n"


class StreamingHandler(ChatExtHandler):
    """A handler that answers with a stream of events from the core."""

    _pending: asyncio.Future[Any] | None = None

    def on_connection_close(self) -> None:
        super().on_connection_close()
        pending = self._pending
        if pending is not None and not pending.done():
            pending.cancel()

    def begin_stream(self, content_type: str = "text/event-stream; charset=utf-8") -> None:
        self.set_status(200)
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        # every event is a small write after another one: with Nagle's algorithm on, the kernel
        # holds each until the client acknowledges the last, and a client's delayed ACK makes that
        # up to 40 ms (measured: the first streamed token 58 ms after the request, 12 ms for
        # llama-server on the same machine). Streams turn it off, as tornado's websockets do.
        stream = getattr(self.request.connection, "stream", None)
        if stream is not None and hasattr(stream, "set_nodelay"):
            stream.set_nodelay(True)

    def send_error_event(self, event: Event) -> None:
        """Answer an error event that came before the response was committed, as JSON."""
        status = event_status(event)
        retry = event.get("retry_after")
        self.send_error_json(
            status,
            str(event.get("code") or "error"),
            str(event.get("message") or "error"),
            retry_after=retry_after_header(status, retry if isinstance(retry, (int, float)) else None),
        )

    def end_stream(self) -> None:
        """Finish the response unless it is finished (a client that left is no error)."""
        if not self._finished:
            try:
                self.finish()
            except StreamClosedError:
                pass

    async def stream_sse(self, events: AsyncIterator[Event], **error_extra: Any) -> None:
        """Answer with ``events`` as text/event-stream and end the response. A failure after the
        commit is one ``error`` event (``error_extra`` added to it); before, a JSON error answer."""

        async def on_error(exc: ChatExtError | None, raw: Exception) -> None:
            fault = exc or ChatExtError("internal server error (see the server log)", code="internal_error")
            try:
                await self.write_sse(fault.to_event(**error_extra))
            except StreamClosedError:
                pass

        await self.pump(events, self.write_sse, begin=self.begin_stream, on_error=on_error)
        self.end_stream()

    async def pump(
        self,
        events: AsyncIterator[Event],
        write: Callable[[Event], Awaitable[None]],
        *,
        begin: Callable[[], None] | None = None,
        on_error: Callable[[ChatExtError | None, Exception], Awaitable[None]] | None = None,
        hold: bool = False,
    ) -> bool:
        """Feed every event to ``write``; True when the stream ran to its end.

        ``begin`` commits the response (headers) once the first real event is known or the
        prefetch delay passed. Errors before that propagate (JSON error answer) and error events
        before it are answered as JSON; later ones go to ``on_error`` / ``write``. With ``hold``
        the response is never committed here (a collected answer): every error is answered as
        JSON and every other event goes to ``write``. The generator is always closed.
        """
        metrics = self.chat_app.metrics
        metrics.stream_started()
        buffered: list[Event] = []
        committed = False
        started = time.monotonic()
        written = [0]  # events written so far (the keepalive task watches it)
        keepalive: asyncio.Future[None] | None = None

        async def commit() -> None:
            nonlocal committed
            if committed:
                return
            committed = True
            if begin is not None:
                begin()
            while buffered:
                await write(buffered.pop(0))

        try:
            while True:
                if self._gone:
                    return False
                step = asyncio.ensure_future(events.__anext__())
                self._pending = step
                if not committed and not hold and buffered:
                    # a start event is waiting: send it once the prefetch delay is over
                    left = PREFETCH_S - (time.monotonic() - started)
                    done, _ = await asyncio.wait({step}, timeout=max(left, 0.0))
                    if not done:
                        await commit()
                if committed and not hold and keepalive is None and self._is_sse():
                    keepalive = asyncio.ensure_future(self._keepalive(written))
                try:
                    event = await step
                except StopAsyncIteration:
                    if not hold:
                        await commit()
                    return True
                except asyncio.CancelledError:
                    if self._gone:
                        return False
                    raise
                except ChatExtError as exc:
                    if not committed:
                        raise
                    if on_error is not None:
                        await on_error(exc, exc)
                    return False
                except Exception as exc:
                    if not committed:
                        raise
                    self.log.exception("jupyter_chat_ext: a stream failed")
                    if on_error is not None:
                        await on_error(None, exc)
                    return False
                finally:
                    self._pending = None
                kind = event.get("type")
                if kind == "done":
                    metrics.observe_generation(event.get("metrics") or {}, event.get("finish_reason"))
                elif kind == "error":
                    metrics.observe_error(str(event.get("code") or "error"))
                    # before the commit a client error or a refusal keeps its own status; a
                    # server fault after a start event still streams (the start names the row)
                    if hold or (not committed and event_status(event) < 500):
                        self.send_error_event(event)
                        return False
                if not hold and not committed:
                    if kind == "start":
                        buffered.append(event)
                        continue
                    await commit()
                await write(event)
                written[0] += 1
        except StreamClosedError:
            self._gone = True
            return False
        finally:
            metrics.stream_finished()
            if keepalive is not None:
                keepalive.cancel()
            pending = self._pending
            if pending is not None and not pending.done():
                pending.cancel()
                try:
                    await pending
                except BaseException:
                    pass
            self._pending = None
            try:
                await events.aclose()  # type: ignore[attr-defined]
            except Exception:
                self.log.debug("jupyter_chat_ext: closing a stream failed", exc_info=True)

    async def _keepalive(self, written: list[int]) -> None:
        """One task a stream (not a timer per event): a comment when no event went out lately."""
        seen = written[0]
        while not self._gone:
            await asyncio.sleep(KEEPALIVE_S)
            now = written[0]
            if now == seen:
                try:
                    await self.write_keepalive()
                except StreamClosedError:
                    return
            seen = now

    def _is_sse(self) -> bool:
        return str(self._headers.get("Content-Type", "")).startswith("text/event-stream")

    async def write_keepalive(self) -> None:
        """An SSE comment line: clients ignore it, idle-connection timeouts see traffic."""
        if self._gone:
            raise StreamClosedError()
        self.write(": keepalive\n\n")
        await self.flush()

    async def write_sse(self, event: Event) -> None:
        """Write one named event and push it to the client now (one flush per token)."""
        if self._gone:
            raise StreamClosedError()
        self.write(sse_frame(str(event.get("type", "message")), event))
        await self.flush()
