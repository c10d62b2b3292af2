"""One request's structured output on a local backend: the grammar, what is streamed, the tool calls.

The backends' decode loops call ``mask_numpy`` / ``mask_torch`` before they sample and
``TokenStream`` (textstream.py) calls ``observe`` after each token, ``visible_end`` before it
streams text and ``finish`` on the done event. What is streamed:

- ``json``: the JSON answer itself (it is the user-visible answer);
- ``call``: nothing: the whole answer is the tool call, which comes back in the done event;
- ``auto``: the text before ``TOOL_MARKER``. Text that could still grow into the marker is held
  back (like a stop string), and from the marker on nothing is streamed. When the marker appears
  the JSON grammar of the tool call switches on for the rest of the answer (the text already
  written after the marker is fed to it first), so the call is as well-formed as in ``call`` mode.

The done event of a parsed call carries ``finish_reason: "tool_calls"`` and ``tool_calls`` in
OpenAI's shape; its ``text`` is the visible text (empty in ``call`` mode). A call that cannot be
parsed (cut off by max_tokens, cancelled) leaves the finish reason as it was and the raw text in
``text``; a call whose arguments fail the tool's schema is not reported as a call either.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .grammar import Guide, compile_schema
from .structured import TOOL_END, TOOL_MARKER, Structured, dumps_compact


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
        return {**event, "text": visible, "finish_reason": "tool_calls", "tool_calls": calls}

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
