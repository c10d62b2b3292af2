"""A tool call streamed as it is generated: OpenAI's ``tool_calls`` deltas from the call's text.

Why: a call used to reach a client only whole, in the done event, so a streaming client's first
token was the end of the call (issue 21: jupyter-ai's tool-bearing prompts "read ~2x slower").
OpenAI streams a call as deltas: the first carries ``id``, ``type`` and ``function.name`` (with
empty ``arguments``), the next ones pieces of ``function.arguments`` as the model writes them.

``CallScanner`` reads the call object (``{"name": ..., "arguments": {...}}``, the shape
structured.tool_call_schema constrains the model to) one character at a time as text arrives,
without waiting for it to be complete: it finds the tool's name once its string closes and the
span of the ``arguments`` value, open or closed. ``CallDeltas`` turns that into deltas. The
arguments are streamed exactly as generated, and the finished call's ``arguments`` is that same
text (structured_run.StructuredRun.finish), so the pieces a client joins equal the non-streamed
call character for character.
"""

from __future__ import annotations

import json
from typing import Any


class CallScanner:
    """Where the name and the arguments of a (possibly unfinished) call object are."""

    def __init__(self) -> None:
        self.pos = 0  # characters of the call text scanned so far
        self.depth = 0
        self._in_string = self._escape = False
        self._string_at = 0
        self._expect_key = False
        self._key: str | None = None  # the last key read at the top level
        self._value_of: str | None = None  # the top-level key whose value is being read
        self._value_at: int | None = None
        self.name: str | None = None
        self.args_start: int | None = None
        self.args_end: int | None = None

    def feed(self, text: str) -> None:
        """Scan ``text[self.pos:]`` (``text`` grows; what was scanned never changes)."""
        for i in range(self.pos, len(text)):
            self._step(text, i)
        self.pos = max(self.pos, len(text))

    def _step(self, text: str, i: int) -> None:
        c = text[i]
        if self._in_string:
            if self._escape:
                self._escape = False
            elif c == "\\":
                self._escape = True
            elif c == '"':
                self._in_string = False
                if self.depth == 1:
                    self._string_closed(text[self._string_at : i + 1])
            return
        if c.isspace():
            return
        if self.depth == 1 and self._value_of is not None and self._value_at is None:
            self._value_at = i  # the first character of a top-level value
            if self._value_of == "arguments":
                self.args_start = i
        if c == '"':
            self._in_string, self._string_at = True, i
        elif c in "{[":
            self.depth += 1
            if self.depth == 1:
                self._expect_key = True
        elif c in "}]":
            if self.depth == 1:
                self._value_ended(i)
            self.depth -= 1
            if self.depth == 1 and self._value_of == "arguments" and self.args_end is None:
                self.args_end = i + 1
        elif self.depth == 1 and c == ":":
            self._value_of, self._value_at = self._key, None
        elif self.depth == 1 and c == ",":
            self._value_ended(i)
            self._expect_key, self._value_of = True, None

    def _string_closed(self, literal: str) -> None:
        try:
            value = json.loads(literal)
        except ValueError:
            return
        if self._expect_key:
            self._key, self._expect_key = value, False
        elif self._value_of == "name" and isinstance(value, str) and self.name is None:
            self.name = value

    def _value_ended(self, i: int) -> None:
        """A scalar ``arguments`` value (not an object: a call the schema check will refuse)."""
        if self._value_of == "arguments" and self.args_start is not None and self.args_end is None:
            self.args_end = i

    def arguments(self, text: str) -> str | None:
        """The arguments' text once its value is closed, else None."""
        if self.args_start is None or self.args_end is None:
            return None
        return text[self.args_start : self.args_end].rstrip()


class CallDeltas:
    """The deltas of one call (index 0: the constrained answer holds one call)."""

    def __init__(self, call_id: str) -> None:
        self.id = call_id
        self.scanner = CallScanner()
        self._named = False
        self._sent = 0  # characters of the arguments streamed

    def update(self, text: str) -> list[dict[str, Any]]:
        """The deltas ``text`` (the call's text so far, stable up to its end) adds."""
        scan = self.scanner
        scan.feed(text)
        out: list[dict[str, Any]] = []
        if not self._named and scan.name is not None:
            self._named = True
            fn = {"name": scan.name, "arguments": ""}
            out.append({"index": 0, "id": self.id, "type": "function", "function": fn})
        if self._named and scan.args_start is not None:
            end = scan.args_end if scan.args_end is not None else len(text)
            start = scan.args_start + self._sent
            if end > start:
                out.append({"index": 0, "function": {"arguments": text[start:end]}})
                self._sent = end - scan.args_start
        return out

    @property
    def started(self) -> bool:
        """Whether a delta went out: the finished call must then keep this id and text."""
        return self._named
