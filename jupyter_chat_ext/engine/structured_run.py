"""One request's structured output on a local backend: the grammar, what is streamed, the tool calls.

The backends' decode loops call ``mask_numpy`` / ``mask_torch`` before they sample and
``TokenStream`` (textstream.py) calls ``observe`` after each token, ``visible_end`` and
``call_deltas`` before it streams and ``finish`` on the done event. What is streamed:

- ``json``: the JSON answer itself (it is the user-visible answer);
- ``call``: no text: the whole answer is the tool call, streamed as ``tool_call`` events (OpenAI's
  deltas, engine/tool_stream.py: the id and name first, then the arguments as they are written);
- ``auto``: the text before ``TOOL_MARKER``, then the call as in ``call`` mode. Text that could
  still grow into the marker is held back (like a stop string), and from the marker on no text is
  streamed. When the marker appears the JSON grammar of the tool call switches on for the rest of
  the answer (the text already written after the marker is fed to it first), so the call is as
  well-formed as in ``call`` mode.

The done event of a parsed call carries ``finish_reason: "tool_calls"`` and ``tool_calls`` in
OpenAI's shape, with the streamed id and the arguments exactly as streamed; its ``text`` is the
visible text (empty in ``call`` mode). A call that cannot be parsed (cut off by max_tokens,
cancelled) leaves the finish reason as it was and the raw text in ``text`` (its deltas went out,
as OpenAI's do before a ``length`` finish); a call whose arguments fail the tool's schema is not
reported as a call either.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .grammar import Guide, compile_schema
from .structured import TOOL_END, TOOL_MARKER, Structured, dumps_compact
from .tool_stream import CallDeltas


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class StructuredRun:
    def __init__(self, spec: Structured, tokenizer: Any = None, n_vocab: int = 0) -> None:
        self.spec = spec
        self.mode = spec.mode
        self.schema = spec.output_schema()
        self._tokenizer, self._n_vocab = tokenizer, n_vocab
        self._grammar = (
            compile_schema(self.schema) if self.schema is not None and tokenizer is not None else None
        )
        # json/call: constrained from the first token; auto: from the marker on
        self.guide: Guide | None = self._new_guide() if self.mode in ("json", "call") else None
        self.marker_at: int | None = None
        self.failed: str | None = None
        #: the call being streamed (created when its text starts: at once, or at the marker)
        self.deltas: CallDeltas | None = None

    def _new_guide(self) -> Guide | None:
        if self._grammar is None:
            return None
        return Guide(self._tokenizer, self._grammar, self._n_vocab)

    # -- decoding --------------------------------------------------------------------------------
    @property
    def masking(self) -> bool:
        g = self.guide
        return g is not None and g.failed is None

    def mask_numpy(self, logits: Any) -> None:
        if self.masking:
            self.guide.mask_numpy(logits)  # type: ignore[union-attr]

    def mask_torch(self, logits: Any) -> Any:
        return self.guide.mask_torch(logits) if self.masking else logits  # type: ignore[union-attr]

    def observe(self, token: int, text: str) -> None:
        """After a sampled (non-end) token: advance the grammar; in auto mode look for the marker."""
        if self.guide is not None:
            if not self.guide.accept(token):
                self.failed = self.guide.failed
            return
        if self.mode == "auto" and self.marker_at is None:
            at = text.find(TOOL_MARKER)
            if at >= 0:
                self.marker_at = at
                self.guide = self._new_guide()
                if self.guide is not None:
                    rest = text[at + len(TOOL_MARKER) :].lstrip()
                    if not self.guide.accept_text(rest):
                        self.failed = self.guide.failed

    # -- streaming -------------------------------------------------------------------------------
    def visible_end(self, text: str, final: bool) -> int:
        """How much of ``text`` token events may carry."""
        if self.mode == "call":
            return 0
        if self.mode != "auto":
            return len(text)
        at = text.find(TOOL_MARKER)
        if at >= 0:
            return at
        if final:
            return len(text)
        for k in range(min(len(TOOL_MARKER) - 1, len(text)), 0, -1):  # a marker may be starting
            if text.endswith(TOOL_MARKER[:k]):
                return len(text) - k
        return len(text)

    def _call_start(self, text: str) -> int | None:
        """Where the call's JSON starts in ``text`` (None: no call is being written)."""
        if self.mode == "call":
            return 0
        if self.mode == "auto":
            at = text.find(TOOL_MARKER)
            return None if at < 0 else at + len(TOOL_MARKER)
        return None

    def call_deltas(self, text: str, final: bool) -> list[dict[str, Any]]:
        """The ``tool_calls`` deltas (OpenAI's stream shape) the answer's ``text`` adds."""
        start = self._call_start(text)
        if start is None:
            return []
        if not final:  # an incomplete UTF-8 sequence waits for the next token
            text = text.rstrip("\ufffd")
        if self.deltas is None:
            self.deltas = CallDeltas(new_call_id())
        return self.deltas.update(text[start:])

    def finish(self, event: dict[str, Any]) -> dict[str, Any]:
        """The done event with the tool call parsed out (see the module docstring)."""
        if self.mode not in ("call", "auto") or event.get("finish_reason") == "cancelled":
            return event
        text = str(event.get("text") or "")
        if self.mode == "call":
            visible, raw = "", text
        else:
            at = text.find(TOOL_MARKER)
            if at < 0:
                return event
            visible, raw = text[:at], text[at + len(TOOL_MARKER) :]
        calls = self.parse_calls(raw)
        if calls is None:
            return event
        calls = self._as_streamed(calls, raw)
        return {**event, "text": visible, "finish_reason": "tool_calls", "tool_calls": calls}

    def _as_streamed(self, calls: list[dict[str, Any]], raw: str) -> list[dict[str, Any]]:
        """The call with the streamed id and the arguments' text as generated (the pieces a
        client joined), where they hold the same value as the parsed arguments."""
        deltas = self.deltas
        if deltas is None or not deltas.started:
            return calls
        fn = calls[0]["function"]
        text = deltas.scanner.arguments(raw)
        try:
            same = text is not None and json.loads(text) == json.loads(fn["arguments"])
        except ValueError:
            same = False
        return [
            {**calls[0], "id": deltas.id, "function": {**fn, "arguments": text if same else fn["arguments"]}}
        ]

    def parse_calls(self, raw: str) -> list[dict[str, Any]] | None:
        """``[{"id", "type": "function", "function": {"name", "arguments"}}]`` or None."""
        raw = raw.strip()
        if raw.endswith(TOOL_END):
            raw = raw[: -len(TOOL_END)].strip()
        try:
            obj = json.loads(raw)
        except ValueError:
            return None
        return tool_calls_from(obj, self.spec)


def tool_calls_from(obj: Any, spec: Structured) -> list[dict[str, Any]] | None:
    """Check a parsed ``{"name", "arguments"}`` object against the allowed tools."""
    import jsonschema

    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    tools = {f["name"]: f for f in spec.allowed_tools()}
    fn = tools.get(obj["name"])
    args = obj.get("arguments", {})
    if fn is None or not isinstance(args, dict):
        return None
    try:
        jsonschema.validate(args, fn["parameters"])
    except jsonschema.ValidationError:
        return None
    return [
        {
            "id": new_call_id(),
            "type": "function",
            "function": {"name": fn["name"], "arguments": dumps_compact(args)},
        }
    ]
