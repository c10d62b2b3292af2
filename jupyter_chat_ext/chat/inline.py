"""Inline (ghost text) completion: the pure text side, no engine and no I/O.

Three pieces, each testable on plain strings:
- :func:`parse_inline` validates the provider's body into an :class:`InlineRequest` and decides
  whether the language is one a text model can complete at all (binary or unknown languages get
  an empty answer with a reason, never an error: the editor asked in good faith).
- :func:`fit_budget` trims the prefix from its far end (and the suffix from its far end) to a token
  budget. It never fails for length. The cut lands on a line start and moves in coarse strides
  measured from the start of the document, so while the user types at the end the kept prefix
  keeps the same first token and the engine's prompt cache (llama.cpp slots) reuses it.
- :class:`InlineCleaner` follows the streamed text: it drops an opening code fence, stops at a
  closing one, at ``max_lines`` lines, or where the model starts repeating the suffix, and hands out
  only text that later tokens cannot take back (so streamed ghost text never flickers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..errors import InvalidInput, PayloadTooLarge

MAX_LINES_LIMIT = 50
#: bodies larger than this are not a cursor neighbourhood anymore (the route's 1 MB limit is above)
MAX_FIELD_CHARS = 500_000

#: editor language names (CodeMirror / Jupyter kernels / mime types) -> our canonical name
LANGUAGE_ALIASES = {
    "ipython": "python",
    "ipython3": "python",
    "python3": "python",
    "py": "python",
    "js": "javascript",
    "jsx": "javascript",
    "ts": "typescript",
    "tsx": "typescript",
    "sh": "shell",
    "bash": "shell",
    "zsh": "shell",
    "md": "markdown",
    "gfm": "markdown",
    "ipythongfm": "markdown",
    "txt": "text",
    "plain": "text",
    "plaintext": "text",
    "c++": "cpp",
    "cxx": "cpp",
    "h": "c",
    "hpp": "cpp",
    "rs": "rust",
    "rb": "ruby",
    "jl": "julia",
    "yml": "yaml",
    "htm": "html",
    "tex": "latex",
    "stex": "latex",
    "kt": "kotlin",
}
SUPPORTED_LANGUAGES = {
    "python", "javascript", "typescript", "r", "julia", "sql", "shell", "markdown", "text", "json",
    "yaml", "toml", "html", "css", "scss", "xml", "c", "cpp", "java", "go", "rust", "ruby", "scala",
    "kotlin", "swift", "php", "perl", "lua", "haskell", "latex", "matlab", "octave", "csharp",
    "dockerfile", "makefile", "ini", "csv", "rst",
}  # fmt: skip


@dataclass
class InlineRequest:
    prefix: str
    suffix: str
    language: str  # canonical ("python"), or the raw name when unsupported
    path: str | None
    max_lines: int
    model: str | None
    #: why no completion is attempted (unsupported language, binary text), None when it is
    skip_reason: str | None = None


def _text_field(body: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"'{key}' is required", code="invalid_type")
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be a string", code="invalid_type")
    if len(value) > MAX_FIELD_CHARS:
        raise PayloadTooLarge(f"'{key}' holds {len(value)} characters; the limit is {MAX_FIELD_CHARS}")
    return value


def canonical_language(language: str, path: str | None) -> str:
    """The editor's language name, else the path's extension, in our canonical spelling."""
    name = language.strip().lower()
    for lead in ("text/x-", "application/x-", "text/"):  # mime types as CodeMirror 5 named them
        if name.startswith(lead) and name != "text":
            name = name[len(lead) :]
    if not name and path:
        name = PurePosixPath(path).suffix.lstrip(".").lower() or PurePosixPath(path).name.lower()
    name = LANGUAGE_ALIASES.get(name, name)
    return name or "text"


def parse_inline(body: dict[str, Any]) -> InlineRequest:
    """Validate a ``POST /chat-ext/inline`` body (InvalidInput names the field)."""
    prefix = _text_field(body, "prefix")
    suffix = _text_field(body, "suffix")
    raw_language = _text_field(body, "language")
    path = body.get("path")
    if path is not None and not isinstance(path, str):
        raise InvalidInput("'path' must be a string", code="invalid_type")
    max_lines = body.get("max_lines", 1)
    if isinstance(max_lines, bool) or not isinstance(max_lines, int) or not 1 <= max_lines <= MAX_LINES_LIMIT:
        raise InvalidInput(
            f"'max_lines' must be an integer from 1 to {MAX_LINES_LIMIT}", code="invalid_value"
        )
    model = body.get("model")
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidInput("'model' must be a non-empty string", code="invalid_type")
    language = canonical_language(raw_language, path)
    reason = None
    if language not in SUPPORTED_LANGUAGES:
        reason = f"no completion for language {language!r}"
    elif "\x00" in prefix or "\x00" in suffix:
        reason = "the text looks binary (it holds NUL characters)"
    elif not prefix.strip() and not suffix.strip():
        reason = "nothing to complete: the prefix and suffix are empty"
    return InlineRequest(prefix, suffix, language, path, max_lines, model, reason)


# -- the budget -------------------------------------------------------------------------------------


@dataclass
class Fitted:
    prefix: str
    suffix: str
    prefix_tokens: int
    suffix_tokens: int
    dropped_prefix_chars: int
    dropped_suffix_chars: int


def _line_start_at_or_after(text: str, index: int) -> int:
    """The first line start at or after ``index`` (``index`` itself when it already is one)."""
    if index <= 0:
        return 0
    if text[index - 1] == "\n":
        return index
    nl = text.find("\n", index)
    return index if nl < 0 else nl + 1  # a single huge line: cut inside it rather than drop all


def trim_prefix(text: str, budget: int, count: Callable[[str], int]) -> tuple[str, int]:
    """The tail of ``text`` within ``budget`` tokens, cut at a line start; (kept, tokens).

    Tokenizing is bounded: a first cut keeps ``budget * 8`` characters (code runs 1.5-4 characters
    a token), then each round aims at the measured characters-per-token. The cut offset is rounded
    up to a power-of-two stride of about 1/8 of the kept text, counted from the document start,
    so typing at the end does not move it: the prompt keeps its first tokens and the engine reuses
    its cached prefix (a moving cut would re-evaluate the whole prompt on every keystroke).
    """
    if budget <= 0 or not text:
        return "", 0
    cut = max(0, len(text) - budget * 8)
    stride = 0
    for _ in range(12):
        aligned = -(-cut // stride) * stride if stride else cut
        start = _line_start_at_or_after(text, min(aligned, len(text)))
        kept = text[start:]
        tokens = count(kept) if kept else 0
        if tokens <= budget:
            return kept, tokens
        target = max(1, int(len(kept) * budget / tokens * 0.97))
        stride = stride or 1 << max(5, (target // 8).bit_length() - 1)
        cut = max(start + 1, len(text) - target)
    return "", 0


def trim_suffix(text: str, budget: int, count: Callable[[str], int]) -> tuple[str, int]:
    """The head of ``text`` within ``budget`` tokens, cut at a line end; (kept, tokens)."""
    if budget <= 0 or not text:
        return "", 0
    end = min(len(text), budget * 8)
    for _ in range(12):
        nl = text.rfind("\n", 0, end)
        stop = nl + 1 if nl > 0 and end < len(text) else end
        kept = text[:stop]
        tokens = count(kept) if kept else 0
        if tokens <= budget:
            return kept, tokens
        end = max(0, stop - max(1, int(len(kept) * ((tokens - budget) / tokens * 1.1 + 0.02))))
    return "", 0


def fit_budget(
    prefix: str, suffix: str, budget: int, count: Callable[[str], int], *, use_suffix: bool
) -> Fitted:
    """Prefix and suffix within ``budget`` tokens together; the prefix gets at least 3/4 of it."""
    suffix_budget = budget // 4 if use_suffix and suffix else 0
    kept_suffix, suffix_tokens = trim_suffix(suffix, suffix_budget, count)
    kept_prefix, prefix_tokens = trim_prefix(prefix, budget - suffix_tokens, count)
    return Fitted(
        kept_prefix,
        kept_suffix,
        prefix_tokens,
        suffix_tokens,
        len(prefix) - len(kept_prefix),
        len(suffix) - len(kept_suffix) if use_suffix else 0,
    )


# -- the answer -------------------------------------------------------------------------------------

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
