"""Stream an answer into the cell output while it is generated.

``markdown`` and ``code`` keep one display (``display_id``) and update it at most every
``interval`` seconds; ``text`` prints the tokens to stdout as they come (stream messages).
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any

from IPython.display import Code, Markdown, display

FORMATS = ("markdown", "text", "code")
CURSOR = " \N{BLACK VERTICAL RECTANGLE}"
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(text: str) -> str:
    """The contents of the fenced code blocks of ``text`` (all of it when there are none)."""
    blocks = [b.rstrip("\n") for b in _FENCE.findall(text)]
    return "\n\n".join(blocks) if blocks else text.strip("\n")


class StreamRenderer:
    """Shows a growing answer in the current cell; ``finish()`` draws the final form."""

    def __init__(self, fmt: str = "markdown", interval: float = 0.1, language: str = "python") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        self.fmt = fmt
        self.interval = interval
        self.language = language
        self.text = ""
        self.updates = 0
        self._handle: Any = None
        self._last = 0.0

    def _display_obj(self, text: str, final: bool) -> Any:
        if self.fmt == "code" and final:
            return Code(extract_code(text), language=self.language)
        if self.fmt == "code":
            return Markdown(f"```{self.language}\n{extract_code(text)}\n```")
        return Markdown(text if final else text + CURSOR)

    def start(self) -> None:
        if self.fmt != "text":
            self._handle = display(self._display_obj("", final=False), display_id=True)

    def add(self, piece: str) -> None:
        self.text += piece
        if self.fmt == "text":
            sys.stdout.write(piece)
            sys.stdout.flush()
            return
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._update(final=False)

    def _update(self, final: bool) -> None:
        if self._handle is not None:
            self._handle.update(self._display_obj(self.text, final=final))
            self.updates += 1

    def finish(self, note: str | None = None) -> None:
        """Draw the final answer; ``note`` (e.g. "interrupted") is shown after it."""
        if self.fmt == "text":
            if self.text and not self.text.endswith("\n"):
                sys.stdout.write("\n")
            if note:
                sys.stdout.write(f"[{note}]\n")
            sys.stdout.flush()
            return
        self._update(final=True)
        if note:
            display(Markdown(f"*[{note}]*"))
