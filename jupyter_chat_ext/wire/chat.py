"""Turns: what a client sends to start one (chat, edit, regenerate, continue) and the events of
its text/event-stream answer.

``GenerationParams`` is the ONE declaration of the generation options: the HTTP bodies embed it,
and ``engine/options.py`` validates every door's options (kernel, widgets, ``/v1``) with it, so a
range or a name is written here and nowhere else. What depends on settings at run time (the
message's size limit, the context items' share of it, the model registry, whether RAG is
available) is checked in ``chat/inputs.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from jupyter_chat_ext.store.types import Message

from .base import Answer, Body, Query

#: the largest integer option a backend takes: llama.cpp and torch read them as C ints
MAX_INT_OPTION = 2**31 - 1
MAX_STOP_SEQUENCES = 8
MAX_STOP_LENGTH = 200
RAG_MODES = ("hybrid", "vector", "text")
#: attached context: at most this many items, labels this long (the text shares the content limit)
MAX_CONTEXT_ITEMS = 20
MAX_CONTEXT_LABEL = 200
#: the kinds of an attached context item (``chat/context.py`` renders each)
CONTEXT_KINDS = ("file", "cell", "var", "error")
MAX_AGENT_STEPS = 50

StopText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STOP_LENGTH)]


def _one_or_many(value: Any) -> Any:
    """``stop`` may be one string: it is taken as a list of one."""
    return [value] if isinstance(value, str) else value


#: a finite number (NaN and Infinity are refused)
Finite = Annotated[float, Field(allow_inf_nan=False)]


#: other names of max_tokens (transformers' and OpenAI's): the last one given wins
MAX_TOKENS_ALIASES = ("max_new_tokens", "max_completion_tokens")


def _alias_properties(schema: dict[str, Any]) -> None:
    """What the validators take, in the document too: the aliases (folded into max_tokens) and
    ``stop`` as one string (taken as a list of one)."""
    props = schema.setdefault("properties", {})
    for alias in MAX_TOKENS_ALIASES:
        props[alias] = {**props["max_tokens"], "description": "alias of max_tokens"}
    one = {"type": "string", "minLength": 1, "maxLength": MAX_STOP_LENGTH}
    props["stop"] = {**props["stop"], "anyOf": [one, *props["stop"].get("anyOf", [])]}


class GenerationParams(Body):
    """Generation options; a seeded request is reproducible. Absent or null: the session's
    params, then the server's defaults."""

    model_config = ConfigDict(json_schema_extra=_alias_properties)

    max_tokens: int | None = Field(
        None,
        ge=1,
        le=MAX_INT_OPTION,
        description="the most tokens to generate; below the model's context (400 invalid_option otherwise)",
    )
    temperature: Finite | None = Field(None, ge=0, le=5, description="0: greedy")
    top_p: Finite | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0, le=MAX_INT_OPTION, description="0: off")
    repetition_penalty: Finite | None = Field(None, gt=0, le=10)
    stop: Annotated[list[StopText] | None, BeforeValidator(_one_or_many)] = Field(
        None,
        max_length=MAX_STOP_SEQUENCES,
        description=f"up to {MAX_STOP_SEQUENCES} stop strings (one string: a list of one)",
    )
    seed: int | None = Field(None, ge=0, lt=2**63, description="the sampler's seed: same seed, same answer")

    @model_validator(mode="before")
    @classmethod
    def _fold_aliases(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(alias in data for alias in MAX_TOKENS_ALIASES):
            return data
        folded: dict[str, Any] = {}
        for key, value in data.items():
            key = "max_tokens" if key in MAX_TOKENS_ALIASES else key
            if value is not None or key not in folded:
                folded[key] = value
        return folded


class RagSpec(Body):
    """Retrieval for one turn: which collection, how many passages, which search."""

    collection: str = Field(min_length=1, max_length=200, description="a collection name")
    k: int = Field(4, ge=1, le=50, description="passages to retrieve")
    mode: Literal["hybrid", "vector", "text"] = "hybrid"

    def to_dict(self) -> dict[str, Any]:
        """As stored in the question's metadata (a regenerated turn retrieves the same way)."""
        return {"collection": self.collection, "k": self.k, "mode": self.mode}


def _named(value: Any) -> Any:
    """A collection name alone means ``{"collection": name}``."""
    return {"collection": value} if isinstance(value, str) else value


def _or_name(schema: dict[str, Any]) -> None:
    """The document says what ``_named`` takes: a collection name as well as the spec."""
    schema["anyOf"] = [{"type": "string", "minLength": 1, "maxLength": 200}, *schema.get("anyOf", [])]


#: a turn's ``rag``: the whole spec, or a collection name alone
RagField = Annotated[RagSpec | None, BeforeValidator(_named), Field(json_schema_extra=_or_name)]

ContextLabel = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CONTEXT_LABEL, pattern=r"^[^\n]*$"),
]


class ContextItem(Body):
    """An attached piece of context (a file, a cell, a variable, an error), shown beside the
    message and folded into the prompt (``chat/context.py``)."""

    kind: Literal["file", "cell", "var", "error"]
    label: ContextLabel = Field(description=f"one line of 1 to {MAX_CONTEXT_LABEL} characters")
    text: str = Field(description="shares the message's size limit (max_content_chars) with it")


class ToolCallFunction(Body):
    name: str = Field(min_length=1, max_length=200)


class NamedToolChoice(Body):
    type: Literal["function"]
    function: ToolCallFunction


class AgentTools(Body):
    """An agent turn (absent: no tools): the model may call the tools in a loop."""

    names: list[Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        None, max_length=500, description="null: every enabled tool"
    )
    client: list[Annotated[str, StringConstraints(min_length=1)]] | None = Field(
        None, max_length=500, description="notebook tools this client can run"
    )
    max_steps: int | None = Field(
        None, ge=1, le=MAX_AGENT_STEPS, description="model calls at most (default: agent_max_steps)"
    )
    tool_choice: Literal["auto", "required", "none"] | NamedToolChoice = Field(
        "auto", description='the first step\'s choice (later steps "auto")'
    )


Content = Annotated[
    str, Field(description="the user's message: not blank, at most max_content_chars (413 beyond)")
]


class ParamsOnly(Body):
    """``POST .../continue``: only the options of the continued answer."""

    params: GenerationParams | None = None

    def options(self) -> dict[str, Any] | None:
        """The options the client gave (canonical names), None when none."""
        return self.params.given() if self.params is not None else None


class RegenerateRequest(ParamsOnly):
    """``POST .../regenerate``. The sidebar sends every turn's fields; ``rag`` and ``tools`` are
    accepted and not used: the turn runs again with the retrieval its question was asked with."""

    rag: RagField = Field(None, description="ignored: the question's stored retrieval is reused")
    tools: AgentTools | None = Field(None, description="ignored: the turn runs again without tools")


class EditRequest(RegenerateRequest):
    """``PATCH .../messages/{id}``: new content; ``resend`` answers the edited question (SSE)."""

    content: Content
    resend: bool = Field(False, description="answer the edited question again (needs the execute permission)")


class ChatRequest(ParamsOnly):
    """``POST .../chat``: one turn."""

    content: Content
    rag: RagField = Field(
        None, description="retrieve from this collection (a name alone: k 4, hybrid); 503 without RAG"
    )
    tools: AgentTools | None = None
    context: list[ContextItem] | None = Field(None, max_length=MAX_CONTEXT_ITEMS)


class ToolResult(Body):
    content: str
    is_error: bool = False


class ToolCallReply(Body):
    """The user's reply to an agent's tool call; a client tool is approved with its result."""

    decision: Literal["approve", "always", "deny"]
    result: ToolResult | None = None
    token: str | None = Field(
        None,
        max_length=200,
        description="the approval_token of the call's tool_call event "
        "(403 approval_token_mismatch without it)",
    )


class ToolCallAccepted(Answer):
    call_id: str
    decision: Literal["approve", "always", "deny"]
    accepted: Literal[True]


# -- messages ---------------------------------------------------------------------------------


class MessagesQuery(Query):
    before: int | None = Field(None, ge=0, le=2**62, description="only messages with a smaller id")
    limit: int = Field(100, ge=1, le=1000)


class MessagePage(Answer):
    messages: list[Message] = Field(description="the newest `limit` messages with id < before, oldest first")
    has_more: bool


class BranchHead(Answer):
    head_id: int = Field(description="the last user message of the branch now shown")


# -- the events of a turn (text/event-stream: ``event: <type>\ndata: <json>\n\n``) ------------------


class TurnMetrics(Answer):
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    total_s: float | None = None
    model: str | None = None
    device: str | None = None
    seed: int | None = None


class Citation(Answer):
    index: int = Field(description="the passage [n] of the prompt")
    source: str
    location: dict[str, Any] | None = None
    location_label: str | None = None
    score: float | None = None
    text: str | None = None
    chunk_id: str | None = None


class StartEvent(Answer):
    """The rows are written: the question and the (streaming) answer."""

    type: Literal["start"]
    session_id: str
    user_message_id: int | None
    assistant_message_id: int
    model: str


class TokenEvent(Answer):
    type: Literal["token"]
    text: str


class DoneEvent(Answer):
    """The answer's row is finished (status complete, or interrupted when cancelled)."""

    type: Literal["done"]
    session_id: str | None = None
    user_message_id: int | None = None
    message_id: int
    status: str
    finish_reason: str | None = None
    text: str | None = Field(None, description="the whole answer (continue: with the earlier text)")
    metrics: TurnMetrics | None = None
    citations: list[Citation] | None = None
    steps: int | None = Field(
        None, description="agent turns: model calls made (finish_reason max_steps at the limit)"
    )
    note: str | None = Field(None, description="agent turns: why no tool was called, when that looks wrong")


class ToolCallEvent(Answer):
    """An agent's model called a tool; ``approval: required`` waits for POST tool-calls/{call_id}."""

    type: Literal["tool_call"]
    message_id: int = Field(description="the assistant row that called")
    call_id: str
    name: str
    arguments: str = Field(description="JSON text")
    source: str | None = None
    effect: Literal["read", "write", "execute", "unknown"] | None = None
    approval: Literal["required", "auto"]
    allowed: bool | None = Field(None, description="a write/execute tool the allow-list lets run unasked")
    executor: Literal["server", "client"]
    approval_token: str | None = Field(None, description="what a reply to this call must carry")


class ToolResultEvent(Answer):
    type: Literal["tool_result"]
    message_id: int = Field(description="the stored tool row")
    call_id: str
    name: str
    content: str
    is_error: bool
    approval: Literal["auto", "approved", "always", "denied", "timeout"]


class StepEvent(Answer):
    """The next step of an agent turn: a new assistant row takes the following tokens."""

    type: Literal["step"]
    index: int
    assistant_message_id: int


class ErrorEvent(Answer):
    """The turn failed after it started (before, the answer is a JSON error with its status)."""

    type: Literal["error"]
    code: str
    message: str
    status: int | None = None
    retry_after: float | None = None
    message_id: int | None = None


TurnEvent = Annotated[
    StartEvent | TokenEvent | DoneEvent | ToolCallEvent | ToolResultEvent | StepEvent | ErrorEvent,
    Field(discriminator="type"),
]
