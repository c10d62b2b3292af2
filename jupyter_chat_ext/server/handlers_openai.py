"""OpenAI-compatible routes under /chat-ext/v1: models, chat/completions, embeddings.

The official ``openai`` client works unchanged with ``base_url=<server>/chat-ext/v1`` and the
Jupyter token as ``api_key`` (jupyter_server accepts ``Authorization: Bearer <token>``).
Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tornado.iostream import StreamClosedError

from jupyter_chat_ext.errors import ChatExtError, event_status
from jupyter_chat_ext.wire.ops import Later, op

if TYPE_CHECKING:  # imported on the first /v1 request (see v1_shape)
    from jupyter_chat_ext.wire.openai import OpenAIBody, V1ChatRequest, V1EmbeddingRequest

from . import openai_compat as oa
from .base import EXECUTE, READ, ChatExtHandler, dumps, requires
from .streaming import Event, StreamingHandler


def v1_shape(name: str) -> Later:
    """A shape of ``wire/openai.py``, imported on first use: it imports the openai package, whose
    types take ~0.35 s to import, which Jupyter's start-up should not pay for routes not yet used."""
    return Later(f"jupyter_chat_ext.wire.openai:{name}")


class OpenAIErrors:
    """Mixin: errors in OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``)."""

    def error_body(self, status: int, code: str, message: str) -> dict[str, Any]:
        return oa.error_body(status, code, message)

    def note_ignored(self: Any, body: OpenAIBody) -> None:
        """Fields a client sent that we do not read are accepted (as OpenAI-compatible servers
        do); a debug line says which, for whoever wonders why ``user`` changed nothing."""
        if ignored := body.ignored():
            self.log.debug("%s: ignored fields %s", self.request.path, ", ".join(ignored))


class OpenAIStreaming(OpenAIErrors, StreamingHandler):
    """OpenAI's streaming shape for /v1/chat/completions and /v1/completions: ``data: <json>``
    frames, a finishing chunk, the usage chunk when asked, ``data: [DONE]``; a failure after the
    commit is one error frame with the status the core gave."""

    async def send_data(self, data: Any) -> None:
        if self._gone:
            raise StreamClosedError()
        self.write(f"data: {data if isinstance(data, str) else dumps(data)}\n\n")
        await self.flush()

    async def send_finish(self, finish: dict[str, Any], usage: dict[str, Any] | None, event: Event) -> None:
        """The chunk with ``finish_reason``, then ``usage`` (an empty chunk; None when the client
        did not ask) filled from the done event's metrics, then ``[DONE]``."""
        await self.send_data(finish)
        if usage is not None:
            usage["usage"] = oa.usage(event.get("metrics") or {})
            await self.send_data(usage)
        await self.send_data("[DONE]")

    async def send_error_frame(self, event: Event) -> None:
        """An error event after the commit: in the stream, with the status the core gave."""
        code = str(event.get("code") or "error")
        await self.send_data(
            oa.error_body(event_status(event), code, str(event.get("message") or "generation failed"))
        )

    async def stream_openai(self, events: Any, write: Any) -> None:
        """Pump ``events`` through ``write`` (an async callable per event) and end the response."""

        async def on_error(exc: ChatExtError | None, raw: Exception) -> None:
            status, code, message = (
                (int(exc.status), exc.code, exc.message)
                if exc
                else (500, "internal_error", "internal server error (see the server log)")
            )
            try:
                await self.send_data(oa.error_body(status, code, message))
            except StreamClosedError:
                pass

        await self.pump(events, write, begin=self.begin_stream, on_error=on_error)
        self.end_stream()


class V1ModelsHandler(OpenAIErrors, ChatExtHandler):
    @requires(READ)
    @op(
        "The models, in OpenAI's list shape",
        answer=v1_shape("V1ModelList"),
        errors=(503,),
        operation_id="v1ListModels",
        tag="openai",
    )
    async def get(self) -> None:
        core = await self.core()
        models = await self.blocking(core.engine.list_models)
        self.send_json({"object": "list", "data": [oa.model_entry(m) for m in models]})


class V1ModelHandler(OpenAIErrors, ChatExtHandler):
    @requires(READ)
    @op("One model", answer=v1_shape("V1Model"), errors=(503,), operation_id="v1GetModel", tag="openai")
    async def get(self, model_id: str) -> None:
        core = await self.core()
        self.send_json(oa.model_entry(await self.blocking(core.engine.get_model, model_id)))


class V1ChatCompletionsHandler(OpenAIStreaming):
    @requires(EXECUTE)
    @op(
        "A chat completion: a chat.completion, or with stream true chat.completion.chunk events "
        "ending in [DONE] (a tool call streams as OpenAI's delta.tool_calls: id and name first, "
        "then the arguments in pieces as they are generated)",
        body=v1_shape("V1ChatRequest"),
        answer=v1_shape("ChatCompletion"),
        stream=v1_shape("ChatCompletionChunk"),
        errors=(503, 507),
        operation_id="v1ChatCompletions",
        tag="openai",
    )
    async def post(self, body: V1ChatRequest) -> None:
        self.note_ignored(body)
        req = oa.chat_request(body, max_chars=self.chat_app.max_content_chars)
        core = await self.core()
        model = req.model or core.settings.default_model
        events = core.chat.complete(
            req.messages,
            params=req.params or None,
            model=req.model,
            structured=req.structured,
            token_events=req.stream,  # a collected answer needs no wake-up per token
        )
        if req.stream:
            await self._stream(req, model, events)
        else:
            await self._collect(req, model, events)

    async def _collect(self, req: oa.ChatRequest, model: str, events: Any) -> None:
        parts: list[str] = []
        final: dict[str, Any] = {}

        async def take(event: Event) -> None:
            nonlocal model
            kind = event.get("type")
            if kind == "start" and event.get("model"):
                model = str(event["model"])
            elif kind == "token":
                parts.append(str(event.get("text", "")))
            elif kind == "done":
                final.update(event)

        if not await self.pump(events, take, hold=True):
            return  # the client went away
        metrics = final.get("metrics") or {}
        text = "".join(parts) if parts or "text" not in final else str(final["text"])
        model = str(metrics.get("model") or model)
        calls = final.get("tool_calls") or None
        self.send_json(oa.completion(req, model, text, final.get("finish_reason"), metrics, calls))

    async def _stream(self, req: oa.ChatRequest, model: str, events: Any) -> None:
        role_sent = calls_streamed = False

        async def write(event: Event) -> None:
            nonlocal model, role_sent, calls_streamed
            kind = event.get("type")
            if kind == "start":
                model = str(event.get("model") or model)
            if not role_sent and kind in ("start", "token", "tool_call", "done"):
                role_sent = True
                await self.send_data(oa.chunk(req, model, {"role": "assistant", "content": ""}))
            if kind == "token":
                await self.send_data(oa.chunk(req, model, {"content": str(event.get("text", ""))}))
            elif kind == "tool_call":  # a local backend streams the call as it is written
                calls_streamed = True
                await self.send_data(oa.chunk(req, model, {"tool_calls": [event["delta"]]}))
            elif kind == "done":
                if event.get("tool_calls") and not calls_streamed:  # a remote endpoint's, whole
                    await self.send_data(oa.chunk(req, model, oa.tool_call_deltas(event["tool_calls"])))
                finish = oa.chunk(req, model, {}, event.get("finish_reason") or "stop")
                usage = oa.chunk(req, model, None) if req.include_usage else None
                await self.send_finish(finish, usage, event)
            elif kind == "error":
                await self.send_error_frame(event)

        await self.stream_openai(events, write)


class V1EmbeddingsHandler(OpenAIErrors, ChatExtHandler):
    @requires(EXECUTE)
    @op(
        "Embeddings: one vector per input",
        body=v1_shape("V1EmbeddingRequest"),
        answer=v1_shape("V1Embeddings"),
        errors=(503,),
        operation_id="v1Embeddings",
        tag="openai",
    )
    async def post(self, body: V1EmbeddingRequest) -> None:
        self.note_ignored(body)
        oa.check_embedding_inputs(body, max_chars=self.chat_app.max_content_chars)
        core = await self.core()
        model = body.model or core.settings.embedding_model

        def work() -> tuple[Any, int]:
            vectors = core.engine.embed(body.input, model_id=body.model)
            return vectors, count_tokens(core.engine, body.input)

        vectors, tokens = await self.long_call(work)  # a 2048-text batch takes seconds
        self.send_json(oa.embedding_response(body, model, vectors, tokens))


def count_tokens(engine: Any, texts: list[str]) -> int:
    """Tokens of the embedding inputs by the embedder's own tokenizer."""
    return int(sum(engine.embedder.count_tokens_batch(texts)))
