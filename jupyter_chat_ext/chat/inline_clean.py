"""Ghost text from the model's raw stream: code fences, ``max_lines``, a repeated suffix.

:class:`InlineCleaner` follows the streamed text: it drops an opening code fence, stops at a
closing one, at ``max_lines`` lines, or where the model starts repeating the suffix, and hands out
only text that later tokens cannot take back (so streamed ghost text never flickers).
"""

from __future__ import annotations

import re

_FENCE_OPEN = re.compile(r"^[ \t]*(```|~~~)[\w+#.-]*[ \t]*\n")
_FENCE_LINE = re.compile(r"^[ \t]*(```|~~~)")


def _only_ticks(line: str) -> bool:
    """A line of backticks/tildes only: a fence, or one being written."""
    bare = line.strip()
    return bool(bare) and set(bare) <= {"`", "~"}


class InlineCleaner:
    """Turns the model's raw stream into ghost text: fences, max lines, a repeated suffix.

    ``feed`` returns the newly safe text (what no later token can take back) and sets ``done``
    once generation may stop; ``text`` is the final clean completion.
    """

    def __init__(self, suffix: str, max_lines: int) -> None:
        self.max_lines = max_lines
        # the first non-blank line of the suffix: a model that starts writing it again is done
        self.suffix_line = next((ln.strip() for ln in suffix.splitlines() if ln.strip()), "")
        # the rest of the cursor's line ("print(|)"): a completion ending with it repeats it
        self.line_rest = suffix.split("\n", 1)[0].strip()
        self.raw = ""
        self.emitted = ""
        self.text = ""
        self.done = False
        self.reason: str | None = None

    def feed(self, piece: str) -> str:
        """Take a streamed piece; returns the newly safe text (may be empty)."""
        self.raw += piece
        clean, stop = self._clean(self.raw, final=False)
        self.done = stop
        return self._advance(clean)

    def finish(self) -> str:
        """The final clean completion (call once generation ended or was stopped)."""
        self.text, _ = self._clean(self.raw, final=True)
        return self.text

    def _advance(self, clean: str) -> str:
        if not clean.startswith(self.emitted):  # a held-back guess was wrong: emit nothing new
            return ""
        delta = clean[len(self.emitted) :]
        self.emitted = clean
        return delta

    def _clean(self, raw: str, *, final: bool) -> tuple[str, bool]:
        """(clean text so far, whether generation can stop now).

        Outside ``final`` the last line is still being written: it is only checked for what it
        may become, and trailing whitespace is held back (it may end the completion).
        """
        text = raw
        fenced = _FENCE_OPEN.match(text)
        if fenced:
            text = text[fenced.end() :]
        elif not final and "\n" not in text and (_FENCE_LINE.match(text) or _only_ticks(text)):
            return "", False  # maybe an opening fence: wait for the end of its line
        lines = text.split("\n")
        kept: list[str] = []
        counted = 0
        stop = False
        for i, line in enumerate(lines):
            complete = final or i < len(lines) - 1
            if not complete:
                if not self._may_become_stop(line, bool(kept or fenced)):
                    kept.append(line)
                break
            if (_FENCE_LINE.match(line) or _only_ticks(line)) and (kept or fenced or i > 0):
                self.reason, stop = "fence", True
                break
            if self.suffix_line and line.strip() == self.suffix_line:
                self.reason, stop = "suffix", True
                break
            kept.append(line)
            counted += bool(line.strip())
            if counted >= self.max_lines and i < len(lines) - 1:
                self.reason, stop = "max_lines", True
                break
        clean = "\n".join(kept).rstrip()
        if (stop or final) and self.line_rest and "\n" not in clean.lstrip("\n"):
            body = clean.rstrip()
            if body.endswith(self.line_rest) and len(body) > len(self.line_rest):
                clean = body[: -len(self.line_rest)]
        return ("" if not clean.strip() else clean), stop

    def _may_become_stop(self, line: str, after_content: bool) -> bool:
        """Whether a line still being written could turn into a fence or the suffix's line."""
        bare = line.strip()
        if not bare:
            return False
        if after_content and _only_ticks(bare):
            return True
        return bool(self.suffix_line) and self.suffix_line.startswith(bare)
