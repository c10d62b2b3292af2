"""Run one streamed answer into the cell output: ``%%chat`` and ``%chat continue`` share it.

The steps of a turn as a user sees them: the model loads (progress in the output, see
``loading.py``), the answer streams into one display, Ctrl-C keeps the partial, ``--out NAME``
puts the text in a notebook variable. The magics only choose what to stream.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError

from .client import ChatClient, EventStream
from .feedback import ChatMagicError
from .loading import LoadDisplay, ensure_loaded, session_model
from .render import StreamRenderer


def check_out_name(name: str | None) -> None:
    """``--out`` must name a plain variable; checked before anything is sent."""
    if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
        raise UsageError(f"--out needs a Python variable name, not {name!r}")


def generation_params(args: Any) -> dict[str, Any]:
    """The per-request options given on the line, validated before any write."""
    from ..engine.options import GenerationOptions  # plain Python, no torch

    options = {"temperature": args.temperature, "max_tokens": args.max_tokens, "seed": args.seed}
    params = {k: v for k, v in options.items() if v is not None}
    GenerationOptions.from_any(params)
    return params


def show_model_load(client: ChatClient, session: dict[str, Any]) -> None:
    """Load the session's model unless it is loaded, with its progress in the cell output."""
    model_id = session_model(client, session)
    if not model_id:
        return
    display = LoadDisplay(model_id)
    try:
        loaded = ensure_loaded(client, model_id, display)
    except KeyboardInterrupt:  # the load runs on a worker (or in the server): it goes on without us
        raise ChatMagicError(
            f"interrupted while {model_id} loads; it keeps loading in the background"
        ) from None
    if loaded:
        display.finish()


@dataclass
class TurnResult:
    session_id: str
    status: str | None = None
    text: str = ""
    events: dict[str, Any] = field(default_factory=dict)

    def raise_if_failed(self) -> None:
        if self.status == "error":
            raise ChatMagicError(self.events.get("error") or "generation failed")

    def as_dict(self) -> dict[str, Any]:
        return {**self.events, "session_id": self.session_id, "status": self.status, "text": self.text}


def stream_answer(
    open_stream: Callable[[], EventStream],
    session_id: str,
    fmt: str,
    *,
    prefix: str = "",
    out: str | None = None,
    user_ns: dict[str, Any] | None = None,
    tool_view: Any = None,
) -> TurnResult:
    """Stream an answer into one display; ``prefix`` is text already there (a continued answer).

    Returns what happened (``failed()`` raises when the turn ended in an error event).
    """
    renderer = StreamRenderer(fmt)
    renderer.text = prefix
    result = TurnResult(session_id)
    stream = open_stream()
    renderer.start()
    note: str | None = None
    try:
        for event in stream:
            kind = event.get("type")
            if kind == "token":
                renderer.add(event.get("text", ""))
            elif tool_view is not None and kind in ("tool_call", "tool_result", "step"):
                renderer = tool_view.handle(event, renderer)  # %%chat --tools (agent_view.py)
            elif kind == "start":
                result.events.update(
                    assistant_message_id=event.get("assistant_message_id"), model=event.get("model")
                )
            elif kind == "done":
                result.events.update(event)
                result.status = event.get("status", "complete")
            elif kind == "error":
                result.events.update(error=event.get("message"), code=event.get("code"))
                result.status = "error"
    except KeyboardInterrupt:
        result.status = "interrupted"
        note = "interrupted: the partial answer is kept in the session (`%chat continue` goes on)"
    finally:
        stream.close()
    result.text = renderer.text
    if result.status == "error":
        renderer.finish()
        return result
    if out is not None and user_ns is not None:
        user_ns[out] = result.text
    if note is None and result.events.get("finish_reason") == "length":
        note = "stopped at --max-tokens"
    if note is None and result.events.get("finish_reason") == "max_steps":
        note = "stopped after the most tool steps (tools.max_steps / agent_max_steps)"
    renderer.finish(note=note)
    return result
