"""The state of one chat turn, carried from validation to the final write, and its event shapes.

A ``Turn`` replaces the six parameters that used to travel between ``_prepare``, ``_answer``,
``_finish`` and ``_interrupt``: everything is validated and typed before a Turn exists, and each
step fills in what it learned (the rendered prompt, the stored rows, the streamed text).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..engine.options import GenerationOptions
from ..store.types import Message, Session
from .inputs import RagSpec

if TYPE_CHECKING:
    from ..engine.structured import Structured
    from ..store.store import Store

Event = dict[str, Any]
#: metadata keys that describe how an answer ended; a continued answer starts without them
_END_KEYS = ("finish_reason", "error", "seed")


@dataclass
class Turn:
    session: Session
    model_id: str
    opts: GenerationOptions
    #: the user message this turn answers (its text: new, edited, or as stored)
    content: str
    #: the stored user message (None until a new chat writes it)
    user: Message | None = None
    rag: RagSpec | None = None
    #: attached context items (chat/context.py) of a new message; None: those stored with ``user``
    context: list[dict[str, Any]] | None = None
    #: the rendered prompt handed to the engine as text (chat template applied once)
    prompt: str = ""
    prompt_tokens: int = 0
    #: token count of ``content``, stored with the user message
    user_tokens: int | None = None
    citations: list[dict[str, Any]] = field(default_factory=list)
    #: the assistant row: a new placeholder, or the interrupted answer being continued
    answer: Message | None = None
    #: continue: the answer exists already and the new text is appended to ``prefix``, its text
    continued: bool = False
    prefix: str = ""
    prefix_tokens: int = 0
    #: an agent step: the conversation as OpenAI messages (tool rows included) and the tools;
    #: the engine renders them itself (the chat template with ``tools=``, the tool-call grammar)
    messages: list[dict[str, Any]] | None = None
    structured: Structured | None = None
    parts: list[str] = field(default_factory=list)
    token_events: int = 0
    started: float = field(default_factory=time.perf_counter)
    first: float | None = None

    @property
    def session_id(self) -> str:
        return self.session["id"]

    @property
    def text(self) -> str:
        """The whole answer so far (a continued answer's earlier text included)."""
        return self.prefix + "".join(self.parts)

    @property
    def tokens_so_far(self) -> int:
        return self.prefix_tokens + self.token_events

    def metadata(self) -> dict[str, Any]:
        """The answer's metadata while it streams: its citations (and, for a continued answer,
        whatever else it carried, minus how its earlier stream ended)."""
        base: dict[str, Any] = {}
        if self.continued and self.answer is not None:
            base = {k: v for k, v in (self.answer.get("metadata") or {}).items() if k not in _END_KEYS}
        if self.citations:
            base["citations"] = self.citations
        return base

    def start_event(self) -> Event:
        assert self.user is not None and self.answer is not None
        return {
            "type": "start",
            "session_id": self.session_id,
            "user_message_id": self.user["id"],
            "assistant_message_id": self.answer["id"],
            "model": self.model_id,
        }

    def done_event(self, status: str, reason: str, metrics: dict[str, Any]) -> Event:
        assert self.user is not None and self.answer is not None
        return {
            "type": "done",
            "session_id": self.session_id,
            "user_message_id": self.user["id"],
            "message_id": self.answer["id"],
            "status": status,
            "finish_reason": reason,
            "text": self.text,
            "metrics": metrics,
            "citations": self.citations,
        }


def streaming_answer(
    store: Store, turn: Turn, parent_id: int, metadata: dict[str, Any] | None = None
) -> Message:
    """A new, empty assistant row in status ``streaming``: checkpoints go to it until the stream
    ends, and a crash before that is recovered as an interrupted answer."""
    return store.add_message(
        turn.session_id,
        "assistant",
        "",
        model=turn.model_id,
        params=turn.opts.to_dict(),
        parent_id=parent_id,
        status="streaming",
        metadata=metadata,
    )


def new_message_writes(
    store: Store, turn: Turn, answer_row: Callable[[], Message]
) -> tuple[Callable[[], None], Callable[[], None]]:
    """The writes of a turn that starts with a new user message (a plain chat and an agent turn).

    ``begin`` stores the message (its RAG request and attached context items in its metadata: the
    sidebar shows them as chips, prompts fold them in) and then the answer's row from
    ``answer_row``; ``undo`` deletes both, so a turn refused after ``begin`` writes nothing.
    """
    metadata: dict[str, Any] = {"rag": turn.rag.to_dict()} if turn.rag else {}
    if turn.context:
        metadata["context"] = turn.context

    def begin() -> None:
        turn.user = store.add_message(
            turn.session_id,
            "user",
            turn.content,
            model=turn.model_id,
            params=turn.opts.to_dict(),
            metadata=metadata or None,
            tokens=turn.user_tokens,
        )
        turn.answer = answer_row()

    def undo() -> None:
        assert turn.user is not None and turn.answer is not None
        store.delete_message(turn.answer["id"])
        store.delete_message(turn.user["id"])

    return begin, undo
