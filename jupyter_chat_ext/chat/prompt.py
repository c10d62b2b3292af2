"""Build the prompt for a turn: system prompt (+ retrieved context) + as much history as fits.

History is trimmed oldest-first so that prompt + answer fit the model's context; the system prompt
and the new user message are always kept. If even those do not fit, the turn is refused with
PayloadTooLarge instead of crashing the model.

Token counts: stored messages carry their count (``messages.tokens``, written when the message was
added or finished), so history is selected from stored counts and only messages without one are
tokenized. The chosen messages are then rendered through the chat template ONCE and that text is
counted once to verify the fit exactly; the same text goes to the engine (``stream_text``), so the
template is not applied again there. Re-tokenizing the whole history every turn blocked the server
for seconds on a 10 MB imported session (issue 12).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import PayloadTooLarge
from .context import fold as fold_context
from .context import stored as stored_context

Message = dict[str, str]
#: the newest stored messages a prompt (a plain turn's or an agent's) is built from: more never
#: fit a context window
HISTORY_LIMIT = 1000
#: chat-template tokens per message (role markers, newlines); the exact count is checked after
_PER_MESSAGE_OVERHEAD = 6
#: no tokenizer packs more characters than this into one token for ordinary text (English BPE
#: averages ~4), so a message longer than ``budget * _MAX_CHARS_PER_TOKEN`` cannot fit and is not
#: tokenized at all: a 10 MB message is skipped in microseconds instead of seconds
_MAX_CHARS_PER_TOKEN = 16


@dataclass
class HistoryItem:
    role: str
    content: str
    tokens: int | None  # stored count of ``content``; None: count it


@dataclass
class Prompt:
    text: str  # the rendered prompt, generation prompt included
    messages: list[Message]
    tokens: int  # exact count of ``text``
    dropped: int  # history messages left out to fit
    user_tokens: int  # count of the new user message alone (stored with it)


def history_items(stored: list[dict[str, Any]]) -> list[HistoryItem]:
    """Stored messages -> prompt history.

    Assistant messages sharing a ``parent_id`` are versions of one answer (regenerate keeps the
    earlier ones); only the newest (highest id) is the conversation's current answer. Failed and
    empty answers are left out; partial (interrupted) answers are kept.
    """
    newest: dict[Any, int] = {}
    for m in stored:
        if m["role"] == "assistant" and m.get("parent_id") is not None:
            newest[m["parent_id"]] = max(newest.get(m["parent_id"], -1), m["id"])
    out: list[HistoryItem] = []
    for m in stored:
        if m["role"] not in ("user", "assistant"):
            continue
        if m["role"] == "assistant":
            if m.get("parent_id") is not None and newest[m["parent_id"]] != m["id"]:
                continue  # an earlier version
            if m.get("status") in ("error", "streaming") or not m.get("content"):
                continue
        content = m["content"]
        if m["role"] == "user":  # attached files/cells/variables stay with their message
            content = fold_context(content, stored_context(m))
        out.append(HistoryItem(m["role"], content, m.get("tokens")))
    return out


def build_prompt(
    *,
    system: str | None,
    history: list[HistoryItem],
    user: str,
    count_text: Callable[[str], int],
    render: Callable[[list[Message]], str],
    context_length: int,
    reserve: int,
) -> Prompt:
    """Return the prompt fitting ``context_length - reserve`` tokens (blocking: run in a thread)."""
    budget = context_length - reserve
    head: list[Message] = [{"role": "system", "content": system}] if system else []
    tail: Message = {"role": "user", "content": user}
    user_tokens = count_text(user)
    base = user_tokens + (count_text(system) if system else 0) + _PER_MESSAGE_OVERHEAD * (len(head) + 2)
    if base > budget:  # clearly too long: refuse without rendering a huge prompt
        raise _too_long(base, budget, context_length, reserve)
    # newest-first selection on stored (or, lacking one, counted) sizes
    kept: list[HistoryItem] = []
    used = base
    for item in reversed(history):
        if len(item.content) > budget * _MAX_CHARS_PER_TOKEN:
            break
        cost = (item.tokens if item.tokens is not None else count_text(item.content)) + _PER_MESSAGE_OVERHEAD
        if used + cost > budget:
            break
        kept.append(item)
        used += cost
    kept.reverse()
    _drop_leading_answers(kept)
    # render once, count once; drop more only if the estimate was off
    while True:
        messages = [*head, *({"role": i.role, "content": i.content} for i in kept), tail]
        text = render(messages)
        tokens = count_text(text)
        if tokens <= budget:
            return Prompt(text, messages, tokens, len(history) - len(kept), user_tokens)
        if not kept:
            raise _too_long(tokens, budget, context_length, reserve)
        kept.pop(0)
        _drop_leading_answers(kept)


def _drop_leading_answers(kept: list[HistoryItem]) -> None:
    # a conversation should not start with a dangling assistant turn
    while kept and kept[0].role == "assistant":
        kept.pop(0)


def _too_long(tokens: int, budget: int, context_length: int, reserve: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the message needs {tokens} prompt tokens but only {budget} fit "
        f"(context {context_length}, {reserve} reserved for the answer); shorten it or lower max_tokens",
        code="prompt_too_long",
    )
