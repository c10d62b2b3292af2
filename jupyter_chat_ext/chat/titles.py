"""Automatic session titles from the first exchange.

A title is derived from the first user message (its first sentence, markdown and code stripped,
cut at a word boundary). It is instant and deterministic: asking a 135M model to summarise costs a
second generation per new chat and gives worse titles than the user's own words.
"""

from __future__ import annotations

import re

MAX_TITLE = 48
DEFAULT_TITLE = "New chat"

_FENCE = re.compile(r"```.*?(```|$)", re.S)
_MARKUP = re.compile(r"[#>*_`~\[\]]+")
_SPACE = re.compile(r"\s+")
#: an @-reference (``@cell``, ``@cell:2``, ``@file:docs/a.md``, ``@var:df``): context, not a title
_MENTION = re.compile(r"(?:(?<=\s)|^)@(?:file|cell|var)(?::\S*)?")


def title_from(user_text: str, answer: str = "") -> str:
    text = _MENTION.sub(" ", _FENCE.sub(" ", user_text))
    text = _MARKUP.sub(" ", text)
    text = _SPACE.sub(" ", text).strip()
    if not text:
        text = _SPACE.sub(" ", _MARKUP.sub(" ", _FENCE.sub(" ", answer))).strip()
    if not text:
        return DEFAULT_TITLE
    first = re.split(r"(?<=[.?!])\s", text, maxsplit=1)[0]
    if len(first) <= MAX_TITLE:
        return first.rstrip(".")
    cut = first[:MAX_TITLE]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"


def needs_title(title: str | None) -> bool:
    return not title or title == DEFAULT_TITLE
