"""The OpenAI-compatible /v1 routes' shapes: answers are the ``openai`` package's own models,
requests are declared here the way vLLM's ``entrypoints/openai/protocol.py`` declares them.

Answers (``ChatCompletion``, ``ChatCompletionChunk``, ``Completion``, ``Model``,
``CreateEmbeddingResponse``) come from ``openai.types``, so the generated document
describes exactly what the official client parses; where we send more (a model's ``state``,
base64 vectors) a subclass adds it. The handlers still build plain dicts (``server/openai_compat.py``):
byte-for-byte what clients got before; ``tests/server/test_openai.py`` validates real answers
against these models.

Requests are our own pydantic models, as in vLLM, because openai's request params are TypedDicts
that do not fit validation at a door (measured with pydantic 2.14 / openai 3.63):
- their ``Iterable[...]`` fields (a message's content parts, an assistant's ``tool_calls``) come
  out as single-use lazy ``ValidatorIterator`` objects: a bad part is found only when the core
  iterates, past the door;
- the message union has no discriminator: one bad message yields 6-18 errors whose first names a
  member (``messages.0.ChatCompletionDeveloperMessageParam.role``), not the field;
- they admit images, audio, files and custom tools, which no backend here takes.
The fields whose pieces fit (a text part, a function tool call, stream options) reuse openai's
TypedDicts; ``tools``, ``tool_choice`` and ``response_format`` are documented with openai's types
and checked by ``engine/structured.py`` (the engine's door, shared with the kernel and the remote
backend: its 400s ``invalid_schema`` / ``invalid_tool_choice`` name the field).

Unknown fields are accepted and ignored (``extra="allow"``), as OpenAI-compatible servers do
(vLLM's ``OpenAIBaseModel``): clients send ``user``, ``metadata``, ``store``,
``frequency_penalty``, ``service_tier``... and expect an answer, not a 400. The fields we read are
strict (``temperature: "hot"`` is a 400 naming ``temperature``); the fields we cannot honour
(``logprobs``, ``n`` > 1, ``echo``, ...) are refused with a 400 ``unsupported``, never ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from openai.types import Completion, CompletionChoice, CreateEmbeddingResponse, Embedding, Model
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionContentPartTextParam,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCallParam,
    ChatCompletionNamedToolChoiceParam,
    ChatCompletionStreamOptionsParam,
)
from openai.types.chat.completion_create_params import ResponseFormat
from pydantic import BeforeValidator, ConfigDict, Field, PlainValidator, model_validator
from pydantic_core import PydanticCustomError

from jupyter_chat_ext.errors import InvalidInput

from .base import Answer, Body

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "Completion",
    "V1ChatRequest",
    "V1CompletionChunk",
    "V1CompletionRequest",
    "V1EmbeddingRequest",
    "V1Embeddings",
    "V1Message",
    "V1Model",
    "V1ModelList",
]

#: OpenAI's default ``max_tokens`` for the legacy completions endpoint (a few words of code)
LEGACY_DEFAULT_MAX_TOKENS = 16
#: the most texts one embeddings request may carry (OpenAI's own limit)
MAX_EMBEDDING_INPUTS = 2048


def unsupported(name: str, why: str) -> InvalidInput:
    """A field we cannot honour: 400 ``unsupported`` naming it (refused, never ignored)."""
    return InvalidInput(f"{name!r} {why}", code="unsupported")


class OpenAIBody(Body):
    """A /v1 request body: strict on the fields declared, other fields accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    def ignored(self) -> list[str]:
        """The fields the client sent that this server does not read (logged, not refused)."""
        return sorted(self.model_extra or {})


# -- pieces shared by the chat and legacy requests ----------------------------------------------
def _stop_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise PydanticCustomError("stop_type", "must be a string or a list of up to 16 non-empty strings")
    return value


NonEmpty = Annotated[str, Field(min_length=1)]
StopList = Annotated[list[NonEmpty], Field(max_length=16)]
#: ``stop``: one string or up to 16, none empty; carried inward as a list
Stop = Annotated[StopList, BeforeValidator(_stop_list, json_schema_input_type=NonEmpty | StopList)]
MaxTokens = Annotated[int, Field(ge=1, le=1_000_000)]
Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(ge=0.0, le=1.0)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class Sampling(OpenAIBody):
    """What both /v1/chat/completions and /v1/completions read besides their prompt."""

    model: str | None = Field(None, description="a model id of GET /v1/models (default: the server's)")
    temperature: Temperature | None = None
    top_p: TopP | None = None
    seed: Seed | None = Field(None, description="the same seed, model and request give the same answer")
    stop: Stop | None = Field(None, description="a string or up to 16 non-empty strings that end the answer")
    stream: bool | None = Field(None, description="answer as text/event-stream chunks ending in [DONE]")
    stream_options: ChatCompletionStreamOptionsParam | None = Field(
        None, description="include_usage: a last chunk with usage and no choices"
    )

    @property
    def include_usage(self) -> bool:
        return bool((self.stream_options or {}).get("include_usage", False))

    def sampling(self) -> dict[str, Any]:
        """The generation options given (GenerationParams' names)."""
        params: dict[str, Any] = {}
        for name in ("temperature", "top_p", "seed"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        if self.stop:
            params["stop"] = self.stop
        return params


# -- /v1/chat/completions -----------------------------------------------------------------------
def _text_content(value: Any) -> str:
    """A message's content as text: a string, null (""), or a list of text parts joined."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list):
        parts = []
        for part in value:
            if (
                not isinstance(part, dict)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise PydanticCustomError("text_parts", "only text parts are supported")
            parts.append(part["text"])
        return "".join(parts)
    raise PydanticCustomError("text_content", "must be a string or a list of text parts")


class V1Message(Body):
    """One message of a chat request (other keys a client adds are ignored)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"] = Field(
        description="developer is read as system"
    )
    content: Annotated[
        str,
        PlainValidator(
            _text_content, json_schema_input_type=str | list[ChatCompletionContentPartTextParam] | None
        ),
    ] = Field("", description="text, or a list of text parts (joined); null for an assistant's call")
    tool_calls: list[ChatCompletionMessageFunctionToolCallParam] | None = Field(
        None, description="the calls an assistant message made (its content null)"
    )
    tool_call_id: str | None = Field(None, description="a tool message: the call it answers")
    name: str | None = None


def _checked_by_structured(value: Any) -> Any:
    return value  # engine/structured.py checks these three (the engine's door, every door's check)


class V1ChatRequest(Sampling):
    """``POST /v1/chat/completions``."""

    messages: list[V1Message] = Field(min_length=1)
    max_tokens: MaxTokens | None = None
    max_completion_tokens: MaxTokens | None = Field(None, description="wins over max_tokens")
    top_k: int | None = Field(None, ge=0, le=100_000)
    n: int | None = Field(None, ge=1, le=1, description="one choice per request")
    logprobs: bool | None = Field(None, description="not supported: only false")
    parallel_tool_calls: bool | None = Field(None, description="an answer makes at most one call")
    response_format: Annotated[
        Any, PlainValidator(_checked_by_structured, json_schema_input_type=ResponseFormat | None)
    ] = Field(
        None,
        description="json_object or json_schema: local backends constrain decoding with a grammar "
        "(llguidance), remote ones pass it on; a bad schema is 400 invalid_schema",
    )
    tools: Annotated[
        Any,
        PlainValidator(
            _checked_by_structured, json_schema_input_type=list[ChatCompletionFunctionToolParam] | None
        ),
    ] = Field(None, description="function tools (at most 128); parameters are checked as JSON schemas")
    tool_choice: Annotated[
        Any,
        PlainValidator(
            _checked_by_structured,
            json_schema_input_type=Literal["none", "auto", "required"]
            | ChatCompletionNamedToolChoiceParam
            | None,
        ),
    ] = Field(
        None,
        description="auto (default with tools: text, or a call after <tool_call>), none, required, or a "
        "named function (400 invalid_tool_choice when it is not in tools); one call per answer",
    )

    @model_validator(mode="after")
    def _refuse_what_we_cannot_honour(self) -> V1ChatRequest:
        if self.logprobs:
            raise unsupported("logprobs", "is not supported by this server")
        return self

    def structured_fields(self) -> dict[str, Any]:
        """The fields ``Structured.from_openai`` checks (the retired ``functions`` included)."""
        extra = self.model_extra or {}
        return {
            "tools": self.tools,
            "tool_choice": self.tool_choice,
            "response_format": self.response_format,
            "functions": extra.get("functions"),
            "function_call": extra.get("function_call"),
        }


# -- /v1/completions (legacy) --------------------------------------------------------------------
def _one_prompt(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return value[0]
    if isinstance(value, list) and len(value) > 1 and all(isinstance(v, str) for v in value):
        raise unsupported("prompt", "holds several prompts; send one per request")
    if isinstance(value, list) and value and all(isinstance(v, (int, list)) for v in value):
        raise unsupported("prompt", "holds token ids; send text")
    return value


class V1CompletionRequest(Sampling):
    """``POST /v1/completions``: a raw prompt (+ ``suffix`` for fill-in-the-middle).

    Fields we cannot honour are refused with a 400 ``unsupported``: ``echo``, ``n``/``best_of``
    above 1, ``logprobs``, ``logit_bias``, non-zero presence/frequency penalties.
    """

    prompt: Annotated[str, BeforeValidator(_one_prompt, json_schema_input_type=str | list[str])] = Field(
        description="one prompt (a list of one string is read as that string)"
    )
    suffix: str | None = Field(None, description="the text after the cursor (fill-in-the-middle)")
    max_tokens: MaxTokens = LEGACY_DEFAULT_MAX_TOKENS
    echo: bool | None = Field(None, description="not supported: only false")
    n: int | None = Field(None, ge=1, le=1_000, description="only 1")
    best_of: int | None = Field(None, ge=1, le=1_000, description="only 1")
    logprobs: int | None = Field(None, description="not supported: only null")
    logit_bias: dict[str, Any] | None = Field(None, description="not supported: only empty")
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="only 0")
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0, description="only 0")

    @model_validator(mode="before")
    @classmethod
    def _null_max_tokens_is_the_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("max_tokens", 0) is None:
            return {k: v for k, v in data.items() if k != "max_tokens"}
        return data

    @model_validator(mode="after")
    def _refuse_what_we_cannot_honour(self) -> V1CompletionRequest:
        if self.echo:
            raise unsupported("echo", "is not supported: the answer holds only the completion")
        if self.n not in (None, 1):
            raise unsupported("n", "must be 1: one completion per request")
        if self.best_of not in (None, 1):
            raise unsupported("best_of", "must be 1")
        if self.logprobs is not None:
            raise unsupported("logprobs", "is not supported by this server")
        if self.logit_bias:
            raise unsupported("logit_bias", "is not supported by this server")
        for penalty in ("presence_penalty", "frequency_penalty"):
            if getattr(self, penalty):
                raise unsupported(penalty, "is not supported (only 0)")
        return self


# -- /v1/embeddings ------------------------------------------------------------------------------
def _texts(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise PydanticCustomError("input_type", "must be a string or a non-empty list of strings")
    if isinstance(value, list) and value and all(isinstance(t, (int, list)) for t in value):
        raise unsupported("input", "holds token ids; send text")
    return value


class V1EmbeddingRequest(OpenAIBody):
    """``POST /v1/embeddings``: one vector per text."""

    input: Annotated[
        list[str],
        Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS),
        BeforeValidator(_texts, json_schema_input_type=str | list[str]),
    ] = Field(description="a text or a list of up to 2048 texts (token ids are refused)")
    model: str | None = Field(None, description="an embedding model id (default: the server's)")
    encoding_format: Literal["float", "base64"] | None = Field(
        None, description="base64: little-endian float32 bytes (what the openai client asks for)"
    )


# -- answers: openai's models, with what we add ---------------------------------------------------
class V1Model(Model):
    """A model (openai's ``Model``) with its kind, load state and context length."""

    kind: str | None = Field(None, description="chat, embedding, ...")
    state: str | None = Field(None, description="unloaded, loading, loaded, failed")
    context_length: int | None = None


class V1ModelList(Answer):
    """The models of the registry, in OpenAI's list shape."""

    object: Literal["list"]
    data: list[V1Model]


class V1CompletionChunkChoice(CompletionChoice):
    finish_reason: Literal["stop", "length", "content_filter"] | None = None  # type: ignore[assignment]


class V1CompletionChunk(Completion):
    """A streamed piece of /v1/completions: openai's ``Completion``, whose ``finish_reason`` is
    null until the last piece (openai's model requires it: the client does not validate streams)."""

    choices: list[V1CompletionChunkChoice]  # type: ignore[assignment]


class V1Embedding(Embedding):
    embedding: list[float] | str = Field(  # type: ignore[assignment]
        description="floats, or base64 little-endian float32 when encoding_format is base64"
    )


class V1Embeddings(CreateEmbeddingResponse):
    """One vector per input (openai's ``CreateEmbeddingResponse``; base64 vectors as text)."""

    data: list[V1Embedding]  # type: ignore[assignment]
