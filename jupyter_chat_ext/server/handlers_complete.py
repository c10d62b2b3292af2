"""Completion routes: OpenAI's legacy /v1/completions, the editor's inline completion, file context.

- ``POST v1/completions``: a raw prompt (+ ``suffix``) through ``Engine.stream_text``, answered in
  OpenAI's ``text_completion`` shape, streamed or not.
- ``POST inline``: the JupyterLab inline provider's route (SSE ``token`` ... ``done``), the text logic
  in ``chat/inline.py`` and ``chat/inline_run.py``.
- ``POST context/file``: a file of the server root as text for ``@file:`` chat context.
Closing a request closes its event generator (``StreamingHandler.pump``), which cancels the
engine request before its next decode step: an editor that types on frees the model at once.
"""

from __future__ import annotations

from typing import Any

from tornado.iostream import StreamClosedError

from jupyter_chat_ext.chat.context_file import parse_context_file, read_context_file
from jupyter_chat_ext.chat.inline import parse_inline
from jupyter_chat_ext.chat.inline_run import inline_events
from jupyter_chat_ext.errors import ChatExtError, event_status

from . import openai_compat as oa
from . import openai_legacy as ol
from .base import EXECUTE, READ, ChatExtHandler, dumps, requires
from .handlers_openai import OpenAIErrors
from .streaming import Event, StreamingHandler


class V1CompletionsHandler(OpenAIErrors, StreamingHandler):
    @requires(EXECUTE)
    async def post(self) -> None:
        req = ol.parse_completion_request(self.json_body(), max_chars=self.chat_app.max_content_chars)
        core = await self.core()
        model = req.model or core.settings.default_model
        events = core.engine.stream_text(req.model, req.prompt, req.params, suffix=req.suffix)
        if req.stream:
            await self._stream(req, model, events)
        else:
            await self._collect(req, model, events)

    async def _collect(self, req: ol.CompletionRequest, model: str, events: Any) -> None:
        parts: list[str] = []
        final: dict[str, Any] = {}

        async def take(event: Event) -> None:
            if event.get("type") == "token":
                parts.append(str(event.get("text", "")))
            elif event.get("type") == "done":
                final.update(event)

        if not await self.pump(events, take, hold=True):
            return  # the client went away (or an error was answered)
        metrics = final.get("metrics") or {}
        model = str(metrics.get("model") or model)
        self.send_json(ol.completion(req, model, "".join(parts), final.get("finish_reason"), metrics))

    async def _stream(self, req: ol.CompletionRequest, model: str, events: Any) -> None:
        async def send(data: Any) -> None:
            if self._gone:
                raise StreamClosedError()
            self.write(f"data: {data if isinstance(data, str) else dumps(data)}\n\n")
            await self.flush()

        async def write(event: Event) -> None:
            kind = event.get("type")
            if kind == "token":
                await send(ol.chunk(req, model, str(event.get("text", ""))))
            elif kind == "done":
                await send(ol.chunk(req, model, "", event.get("finish_reason") or "stop"))
                if req.include_usage:
                    last = ol.chunk(req, model, None)
                    last["usage"] = oa.usage(event.get("metrics") or {})
                    await send(last)
                await send("[DONE]")
            elif kind == "error":  # after the commit: in the stream, with the status the core gave
                code = str(event.get("code") or "error")
                await send(oa.error_body(event_status(event), code, str(event.get("message") or "failed")))

        async def on_error(exc: ChatExtError | None, raw: Exception) -> None:
            status, code, message = (
                (int(exc.status), exc.code, exc.message)
                if exc
                else (500, "internal_error", "internal server error (see the server log)")
            )
            try:
                await send(oa.error_body(status, code, message))
            except StreamClosedError:
                pass

        await self.pump(events, write, begin=self.begin_stream, on_error=on_error)
        self._end()

    def _end(self) -> None:
        if not self._finished:
            try:
                self.finish()
            except StreamClosedError:
                pass


class InlineHandler(StreamingHandler):
    """SSE: ``token`` events of clean ghost text, then ``done`` with the whole completion."""

    @requires(EXECUTE)
    async def post(self) -> None:
        req = parse_inline(self.json_body())
        core = await self.core()
        events = inline_events(core.engine, req, budget_tokens=self.chat_app.inline_budget_tokens)

        async def on_error(exc: ChatExtError | None, raw: Exception) -> None:
            event = exc.to_event() if exc else {"type": "error", "code": "internal_error", "status": 500}
            try:
                await self.write_sse({**event, "message": event.get("message") or "inline completion failed"})
            except StreamClosedError:
                pass

        await self.pump(events, self.write_sse, begin=self.begin_stream, on_error=on_error)
        if not self._finished:
            try:
                self.finish()
            except StreamClosedError:
                pass


class ContextFileHandler(ChatExtHandler):
    """A file under the server root as ``{path, text, truncated, chars}`` (via the RAG loaders)."""

    @requires(READ)
    async def post(self) -> None:
        path, max_chars = parse_context_file(self.json_body())
        root = self.serverapp.root_dir
        self.send_json(await self.long_call(read_context_file, path, root, max_chars))
