"""An agent turn's input: the ``tools`` field of a chat request, the tools it selects, and the
stored conversation as OpenAI messages (tool calls and their results included) within the budget.

The plain chat prompt (``prompt.py``) leaves tool rows out: a turn without tools sends no tool
schemas, and a template shown tool messages it was never told about renders them badly. An agent
turn sends the whole exchange: each assistant row that called tools carries ``tool_calls``, each
tool row becomes ``{"role": "tool", "tool_call_id", "content"}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, PayloadTooLarge
from . import inputs
from .context import fold
from .context import stored as stored_context

if TYPE_CHECKING:
    from ..tools.registry import ToolRegistry

#: the text a model sees for a call whose turn was stopped before it ran (each call needs a result)
NOT_RUN = "the call was not run: the turn was stopped"
#: chat-template tokens per message (role markers); the engine checks the real total
_PER_MESSAGE_OVERHEAD = 6


@dataclass(frozen=True)
class ToolsRequest:
    """The ``tools`` field: which tools (None: every enabled one), which the client runs."""

    names: list[str] | None
    client: list[str]
    max_steps: int
    #: the first step's OpenAI tool_choice ("auto" | "required" | "none" | a named function)
    tool_choice: Any = "auto"


def tools_request(value: Any, default_max_steps: int) -> ToolsRequest:
    """The ``tools`` field, its shape checked by the wire model (``wire/chat.py`` AgentTools)."""
    req = inputs.tools(value)
    choice = req.tool_choice
    return ToolsRequest(
        None if req.names is None else list(req.names),
        list(req.client or []),
        req.max_steps or default_max_steps,
        choice if isinstance(choice, str) else choice.model_dump(),
    )


def select_tools(registry: ToolRegistry, listed: list[Any], req: ToolsRequest) -> list[Any]:
    """The specs this turn offers. Notebook tools run in the client, so they are offered only when
    the client says it can run them; a named tool that is unknown is NotFound ``unknown_tool``."""
    if req.names is None:
        chosen = [s for s in listed if s.enabled and (s.source != "notebook" or s.name in req.client)]
    else:
        chosen = []
        for name in dict.fromkeys(req.names):
            spec = registry.get(name)
            if not spec.enabled:
                raise InvalidInput(f"tool {name!r} is disabled", code="invalid_value")
            if spec.source == "notebook" and name not in req.client:
                raise InvalidInput(f"tool {name!r} runs in the client: list it in tools.client too")
            chosen.append(spec)
    if not chosen:
        raise InvalidInput("no tool is available for this turn (tools.names / tools.client)")
    choice = req.tool_choice
    if isinstance(choice, dict) and choice["function"]["name"] not in {s.name for s in chosen}:
        raise InvalidInput(
            f"tools.tool_choice names {choice['function']['name']!r}, which this turn does not offer"
        )
    return chosen


def history_messages(stored: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Stored rows -> OpenAI messages, grouped in exchanges (each starts at a user message).

    Kept: users; the newest version of each answer (rows sharing a parent are versions) unless it
    failed, is still streaming or is empty without calls; tool rows of a kept call. A row whose
    parent was left out goes too (the rest of a dropped agent turn). A call without a stored
    result (the turn was stopped) gets ``NOT_RUN`` so the conversation stays valid.
    """
    newest: dict[Any, int] = {}
    for m in stored:
        if m["role"] == "assistant" and m.get("parent_id") is not None:
            newest[m["parent_id"]] = max(newest.get(m["parent_id"], -1), m["id"])
    kept: set[int] = set()
    groups: list[list[dict[str, Any]]] = []
    open_calls: list[str] = []  # call ids of the last kept assistant still waiting for results

    def flush() -> None:
        for call_id in open_calls:
            groups[-1].append({"role": "tool", "tool_call_id": call_id, "content": NOT_RUN, "_tokens": None})
        open_calls.clear()

    for m in stored:
        role, parent, meta = m["role"], m.get("parent_id"), m.get("metadata") or {}
        if role == "tool":
            call_id = meta.get("tool_call_id")
            if parent in kept and call_id in open_calls:
                open_calls.remove(call_id)
                groups[-1].append(_msg("tool", m, tool_call_id=call_id))
            continue
        if groups:
            flush()
        if role == "user":  # with its attached context in front, as the model read it then
            kept.add(m["id"])
            groups.append([_msg("user", m, content=fold(m.get("content", ""), stored_context(m)))])
        elif role == "assistant" and groups:
            if parent is not None and (parent not in kept or newest[parent] != m["id"]):
                continue
            calls = meta.get("tool_calls") or []
            if m.get("status") in ("error", "streaming") or (not m.get("content") and not calls):
                continue
            kept.add(m["id"])
            if calls:
                groups[-1].append(_msg("assistant", m, content=m.get("content") or None, tool_calls=calls))
                open_calls.extend(c["id"] for c in calls)
            else:
                groups[-1].append(_msg("assistant", m))
    if groups:
        flush()
    return groups


def _msg(role: str, row: dict[str, Any], **fields: Any) -> dict[str, Any]:
    msg = {"role": role, "content": row.get("content", ""), **fields}
    msg["_tokens"] = row.get("tokens")  # the stored count, dropped before the engine sees it
    return msg


def fit_messages(
    *,
    system: str | None,
    groups: list[list[dict[str, Any]]],
    user: str,
    tools: list[dict[str, Any]],
    count_text: Callable[[str], int],
    budget: int,
) -> tuple[list[dict[str, Any]], int]:
    """System + the newest whole exchanges that fit + the new user message (blocking: a thread).

    Returns the messages and the user message's token count. Whole exchanges only, so a tool
    result never loses the call it answers."""
    user_tokens = count_text(user)
    used = user_tokens + count_text(json.dumps(tools)) + _PER_MESSAGE_OVERHEAD * 2
    if system:
        used += count_text(system) + _PER_MESSAGE_OVERHEAD
    if used > budget:
        raise PayloadTooLarge(
            f"the message and the tool schemas need {used} prompt tokens but only {budget} fit; "
            "shorten the message, offer fewer tools or lower max_tokens",
            code="prompt_too_long",
        )
    chosen: list[list[dict[str, Any]]] = []
    for group in reversed(groups):
        cost = sum(_cost(m, count_text) for m in group)
        if used + cost > budget:
            break
        chosen.append(group)
        used += cost
    head = [{"role": "system", "content": system}] if system else []
    body = [{k: v for k, v in m.items() if k != "_tokens"} for g in reversed(chosen) for m in g]
    return [*head, *body, {"role": "user", "content": user}], user_tokens


#: shown to the model where a tool result was cut to fit its context (the stored row keeps it all)
CUT_NOTE = "\n\n[cut to fit the model's context: showing {shown:,} of {total:,} characters]"


def shrink_results(
    messages: list[dict[str, Any]],
    results: int,
    count_prompt: Callable[[list[dict[str, Any]]], int],
    budget: int,
) -> list[dict[str, Any]]:
    """``messages`` whose last ``results`` tool messages are cut (longest first, by halves) until
    the prompt fits ``budget`` tokens (blocking: a thread). A 20 000-character file read by a
    model with a 2 048-token context would otherwise end the turn with 413 at the next step."""
    out = list(messages)
    first = len(out) - results
    shown = {i: len(out[i]["content"]) for i in range(first, len(out))}
    for _ in range(24):
        if not shown or count_prompt(out) <= budget:
            break
        longest = max(shown, key=lambda i: shown[i])
        shown[longest] //= 2
        if shown[longest] < 64:
            break  # nothing left worth cutting: the engine answers 413 with the real figures
        full = messages[longest]["content"]
        cut = full[: shown[longest]] + CUT_NOTE.format(shown=shown[longest], total=len(full))
        out[longest] = {**messages[longest], "content": cut}
    return out


def _cost(m: dict[str, Any], count_text: Callable[[str], int]) -> int:
    tokens = m.get("_tokens")
    if tokens is None:
        tokens = count_text(m.get("content") or "")
    if m.get("tool_calls"):
        tokens += count_text(json.dumps(m["tool_calls"]))
    return tokens + _PER_MESSAGE_OVERHEAD
