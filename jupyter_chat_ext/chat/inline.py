"""Inline (ghost text) completion: the pure text side, no engine and no I/O.

Each piece is testable on plain strings:
- :func:`parse_inline` validates the provider's body into an :class:`InlineRequest` and decides
  whether the language is one a text model can complete at all (binary or unknown languages get
  an empty answer with a reason, never an error: the editor asked in good faith).
- :func:`fit_budget` trims the prefix from its far end (and the suffix from its far end) to a token
  budget. It never fails for length. The cut lands on a line start and moves in coarse strides
  measured from the start of the document, so while the user types at the end the kept prefix
  keeps the same first token and the engine's prompt cache (llama.cpp slots) reuses it.
- ``inline_clean.InlineCleaner`` turns the model's stream into clean ghost text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ..wire.base import parse
from ..wire.complete import InlineRequest as InlineBody

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
    #: only evaluate the prompt (no ghost text): the editor sends it when a cell gets the cursor,
    #: so the engine holds the context in its prompt cache before the first keystroke asks
    warm: bool = False


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


def parse_inline(body: dict[str, Any] | InlineBody) -> InlineRequest:
    """A ``POST /chat-ext/inline`` body (``wire.complete.InlineRequest``: a 400 names the field)
    as a request, with the reason to skip it when a text model cannot complete it."""
    if not isinstance(body, InlineBody):
        body = parse(InlineBody, body)
    prefix, suffix, path, max_lines = body.prefix or "", body.suffix or "", body.path, body.max_lines
    model, warm, raw_language = body.model, body.warm, body.language or ""
    language = canonical_language(raw_language, path)
    reason = None
    if language not in SUPPORTED_LANGUAGES:
        reason = f"no completion for language {language!r}"
    elif "\x00" in prefix or "\x00" in suffix:
        reason = "the text looks binary (it holds NUL characters)"
    elif not prefix.strip() and not suffix.strip():
        reason = "nothing to complete: the prefix and suffix are empty"
    return InlineRequest(prefix, suffix, language, path, max_lines, model, reason, warm)


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
