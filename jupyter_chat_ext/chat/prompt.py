"""Build the prompt for a turn: system prompt (+ retrieved context) + as much history as fits.

History is trimmed oldest-first so that prompt + answer fit the model's context; the system prompt
and the new user message are always kept. If even those do not fit, the turn is refused with
PayloadTooLarge instead of crashing the model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import PayloadTooLarge

Message = dict[str, str]
#: chat-template overhead per message (role markers, newlines); the exact count is checked after
_PER_MESSAGE_OVERHEAD = 6


def history_messages(stored: list[dict[str, Any]]) -> list[Message]:
    """Stored messages -> template messages: failed answers are left out, partial answers kept."""
    out: list[Message] = []
    for m in stored:
        if m["role"] not in ("user", "assistant"):
            continue
        if m["role"] == "assistant" and (m.get("status") == "error" or not m.get("content")):
            continue
        out.append({"role": m["role"], "content": m["content"]})
    return out


def build_prompt(
    *,
    system: str | None,
    history: list[Message],
    user: str,
    count_prompt: Callable[[list[Message]], int],
    count_text: Callable[[str], int],
    context_length: int,
    reserve: int,
) -> tuple[list[Message], int]:
    """Return (messages, dropped) fitting ``context_length - reserve`` prompt tokens."""
    budget = context_length - reserve
    head: list[Message] = [{"role": "system", "content": system}] if system else []
    tail: Message = {"role": "user", "content": user}
    base = count_prompt([*head, tail])
    if base > budget:
        raise PayloadTooLarge(
            f"the message needs {base} prompt tokens but only {budget} fit "
            f"(context {context_length}, {reserve} reserved for the answer); shorten it or lower max_tokens",
            code="prompt_too_long",
        )
    # newest-first selection on estimated sizes, then exact verification
    kept: list[Message] = []
    used = base
    for msg in reversed(history):
        cost = count_text(msg["content"]) + _PER_MESSAGE_OVERHEAD
        if used + cost > budget:
            break
        kept.insert(0, msg)
        used += cost
    # a conversation should not start with a dangling assistant turn
    while kept and kept[0]["role"] == "assistant":
        kept.pop(0)
    messages = [*head, *kept, tail]
    while kept and count_prompt(messages) > budget:
        kept.pop(0)
        while kept and kept[0]["role"] == "assistant":
            kept.pop(0)
        messages = [*head, *kept, tail]
    return messages, len(history) - len(kept)
