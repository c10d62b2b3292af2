"""The backend seam: what every engine backend (transformers, llama.cpp, remote) implements.

A ``Backend`` turns a registry entry into a loaded ``ModelRuntime``; the runtime renders prompts,
counts tokens and runs generation requests on its own threads. ``Engine`` only routes: it picks the
backend for a model (``backends.registry``), keeps the loaded runtimes, and turns the runtime's
thread-side ``sink`` calls into async events. Every runtime speaks the same event shapes:

    {"type": "token", "text": str}
    {"type": "tool_call", "delta": {"index", "id"?, "type"?, "function": {"name"?, "arguments"}}}
        (a tool call as it is written, in OpenAI's stream shape: engine/tool_stream.py)
    {"type": "done", "finish_reason": "stop"|"length"|"cancelled"|"tool_calls", "text": str, "metrics": {...},
     "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}]  (tool calls only)}
    {"type": "error", "code": str, "status": int, "message": str}
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ...errors import ChatExtError
from ..options import GenerationOptions
from ..registry import ModelInfo

Sink = Callable[[dict[str, Any]], None]
Progress = Callable[[float, str], None]
Messages = list[dict[str, Any]]

_ids = itertools.count(1)


@dataclass
class GenRequest:
    """One generation request as a runtime sees it.

    Local runtimes decode ``prompt_ids``; the remote runtime sends ``messages`` (chat) or
    ``prompt`` (+ ``suffix``) to its endpoint, which tokenizes with its own tokenizer.
    """

    prompt_ids: list[int]
    options: GenerationOptions
    max_new_tokens: int
    sink: Sink
    messages: Messages | None = None
    prompt: str | None = None
    suffix: str | None = None
    #: structured output / tool calls (engine/structured_run.StructuredRun): local loops mask
    #: logits with it, TokenStream hides tool-call text, the remote backend passes ``.spec`` on
    structured: Any = None
    id: int = field(default_factory=lambda: next(_ids))
    cancelled: threading.Event = field(default_factory=threading.Event)
    t_submit: float = field(default_factory=time.perf_counter)
    _on_cancel: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def cancel(self) -> None:
        """Mark the request cancelled; runtimes drop it before their next decode step."""
        self.cancelled.set()
        for callback in list(self._on_cancel):
            try:
                callback()
            except Exception:  # a cancel hook must never break the caller's cleanup
                pass

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the request is cancelled (at once if it already is)."""
        self._on_cancel.append(callback)
        if self.cancelled.is_set():
            callback()


def error_event(exc: ChatExtError) -> dict[str, Any]:
    """The one shape of an error event: code, HTTP status and a message for people."""
    return exc.to_event()


def capabilities(
    backend: str,
    *,
    batching: bool = False,
    grammar: bool = False,
    tools: bool = False,
    fim: bool = False,
    embeddings: bool = False,
) -> dict[str, Any]:
    return {
        "backend": backend,
        "batching": batching,
        "grammar": grammar,
        "tools": tools,
        "fim": fim,
        "embeddings": embeddings,
    }


@runtime_checkable
class ModelRuntime(Protocol):
    """A loaded model. Blocking methods are called off the event loop (worker threads)."""

    backend: str
    model_id: str
    device: str
    dtype: str | None
    notes: list[str]
    load_s: float
    from_cache: bool
    #: tokens a prompt + answer may use (the model's context, capped by Settings.context_budget)
    context_length: int
    #: requests allowed to wait before ``submit`` raises Busy
    max_queue: int

    @property
    def queue_depth(self) -> int: ...

    @property
    def active_count(self) -> int: ...

    def capabilities(self) -> dict[str, Any]: ...

    def render(self, messages: Messages) -> str:
        """The chat template applied once, with the generation prompt, as text."""
        ...

    def prompt_ids(self, messages: Messages) -> list[int]:
        """Token ids of the rendered chat prompt (what generation starts from)."""
        ...

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        """Token ids of ``text``; ``special`` parses special tokens written in it (raw prompts)."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def fim_ids(self, prefix: str, suffix: str) -> list[int] | None:
        """A fill-in-the-middle prompt, or None when the model has no FIM tokens."""
        ...

    def submit(self, req: GenRequest) -> GenRequest:
        """Queue ``req``; events go to ``req.sink`` from a worker thread. Busy when full."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters for /metrics and tests: steps, mean batch, tokens reused, ..."""
        ...

    def close(self) -> None: ...


class Backend(Protocol):
    """Loads models of the formats it serves."""

    name: str

    def unavailable_reason(self) -> str | None:
        """None when the backend can load models here, else why not (shown in model notes)."""
        ...

    def load(self, info: ModelInfo, settings: Any, progress: Progress) -> ModelRuntime:
        """Load ``info`` (blocking). Raises ModelError with a clear message on failure."""
        ...
