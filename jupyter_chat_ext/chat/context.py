"""Attached context of a user message (files, cells, variables, errors) as the model reads it.

The sidebar's chips and the kernel's ``--cell``/``--var``/``fix`` send ``[{"kind", "label",
"text"}]`` beside the message (validated by ``inputs.context``). The message is stored as the user
typed it, with the items in ``metadata.context``; every prompt that includes the message (this
turn, later turns' history, regenerate, continue) folds them in front of it here, as fenced blocks
headed by their labels, so the model sees the same text each time.
"""

from __future__ import annotations

import re
from typing import Any

KINDS = ("file", "cell", "var", "error")
_HEADINGS = {"file": "File", "cell": "Notebook cell", "var": "Variable", "error": "Error"}
_FENCE_RUN = re.compile(r"`{3,}")


def _fence(text: str) -> str:
    """A backtick fence longer than any run inside ``text`` (so the block cannot end early)."""
    longest = max((len(m.group(0)) for m in _FENCE_RUN.finditer(text)), default=0)
    return "`" * max(3, longest + 1)


def fold(content: str, items: list[dict[str, Any]] | None) -> str:
    """The user's message with its context blocks in front (the message itself unchanged)."""
    if not items:
        return content
    blocks = []
    for item in items:
        fence = _fence(item["text"])
        heading = f"{_HEADINGS.get(item['kind'], 'Context')}: {item['label']}"
        blocks.append(f"{heading}\n{fence}\n{item['text'].rstrip()}\n{fence}")
    return "\n\n".join(blocks) + "\n\n" + content


def stored(message: dict[str, Any] | None) -> list[dict[str, Any]] | None:
    """The context items kept with a stored user message (None when it has none)."""
    meta = (message or {}).get("metadata") or {}
    items = meta.get("context")
    return items if isinstance(items, list) and items else None
