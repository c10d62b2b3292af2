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

from jupyter_chat_ext.chat.context_file import parse_context_file, read_context_file
from jupyter_chat_ext.chat.inline import parse_inline
from jupyter_chat_ext.wire.complete import ContextFile, ContextFileRequest, InlineEvent, InlineRequest
from jupyter_chat_ext.wire.ops import op

from . import openai_legacy as ol
from .base import EXECUTE, READ, ChatExtHandler, requires
from .handlers_openai import OpenAIStreaming, v1_shape
from .streaming import Event, StreamingHandler


class V1CompletionsHandler(OpenAIStreaming):
    @requires(EXECUTE)
    @op(
        "Legacy completions (prompt + optional suffix) for editors and inline completion",
        body=v1_shape("V1CompletionRequest"),
        answer=v1_shape("Completion"),
        stream=v1_shape("V1CompletionChunk"),
        errors=(503,),
        operation_id="v1Completions",
        tag="openai",
    )
    async def post(self, body: ol.V1CompletionRequest) -> None:
        self.note_ignored(body)
        req = ol.legacy_request(body, max_chars=self.chat_app.max_content_chars)
        core = await self.core()
        model = req.model or core.settings.default_model
        events = core.engine.stream_text(req.model, req.prompt, req.params, suffix=req.suffix)
        if req.stream:
            await self._stream(req, model, events)
        else:
            await self._collect(req, model, events)

    async def _collect(self, req: ol.LegacyRequest, model: str, events: Any) -> None:
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

    async def _stream(self, req: ol.LegacyRequest, model: str, events: Any) -> None:
        async def write(event: Event) -> None:
            kind = event.get("type")
            if kind == "token":
                await self.send_data(ol.chunk(req, model, str(event.get("text", ""))))
            elif kind == "done":
                finish = ol.chunk(req, model, "", event.get("finish_reason") or "stop")
                usage = ol.chunk(req, model, None) if req.include_usage else None
                await self.send_finish(finish, usage, event)
            elif kind == "error":
                await self.send_error_frame(event)

        await self.stream_openai(events, write)


class InlineHandler(StreamingHandler):
    """SSE: ``token`` events of clean ghost text, then ``done`` with the whole completion."""

    @requires(EXECUTE)
    @op(
        "Ghost-text completion for the editor (prefix/suffix trimmed to the token budget): SSE token"
        " events of clean text, then done {text, finish_reason, metrics} (reason when skipped)",
        body=InlineRequest,
        stream=InlineEvent,
        tag="completion",
        errors=(429, 503),
        operation_id="inlineCompletion",
    )
    async def post(self, body: InlineRequest) -> None:
        req = parse_inline(body)
        core = await self.core()
        # a request that names no model gets the inline role's (a pulled FIM code model, else chat)
        events = core.chat.inline(req, budget_tokens=self.chat_app.inline_budget_tokens)
        await self.stream_sse(events)


class ContextFileHandler(ChatExtHandler):
    """A file under the server root as ``{path, text, truncated, chars}`` (via the RAG loaders)."""

    @requires(READ)
    @op(
        "A file under the server root as text for chat context (through the RAG loaders)",
        body=ContextFileRequest,
        answer=ContextFile,
        tag="completion",
        errors=(413, 415, 422),
        operation_id="contextFile",
    )
    async def post(self, body: ContextFileRequest) -> None:
        path, max_chars = parse_context_file(body)
        root = self.serverapp.root_dir
        # hidden files answer 404 unless Jupyter's contents API may show them (allow_hidden)
        allow_hidden = bool(getattr(self.serverapp.contents_manager, "allow_hidden", False))
        self.send_json(
            await self.long_call(lambda: read_context_file(path, root, max_chars, allow_hidden=allow_hidden))
        )
