"""Did the user clearly ask for a tool call? Used to say so when an agent turn ends without one.

Small models (the packaged 135M one among them) often answer in prose when a request plainly
needs a tool ("add a cell that…", "run cell 3", naming ``insert_cell``): issue 20 saw two such
requests end with no call and no word of why. The test is deliberately narrow, so the note shows
only where a person would agree a call was asked for: a tool named by its name, or an imperative
about the notebook's cells or files ("add/insert/create/run/execute/edit/delete … cell|notebook").
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_ACTION = re.compile(
    r"\b(add|insert|append|create|write|put|run|execute|re-?run|edit|change|replace|update|delete|remove)\b"
    r"[^.?!\n]{0,60}?\b(cells?|notebook|file)\b",
    re.IGNORECASE,
)

NOTE = (
    "The model answered without calling a tool, though the request asked for one{what}. "
    "Small models often do not call tools: pick a model that supports tool calls (Models view)."
)


def asked_for_tool(content: str, tool_names: Iterable[str]) -> str | None:
    """What in ``content`` asks for a tool call (the tool's name, or the phrase), else None."""
    for name in tool_names:
        if name and re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", content):
            return name
    m = _ACTION.search(content)
    return m.group(0) if m else None


def no_call_note(content: str, tool_names: Iterable[str]) -> str | None:
    """The note for a turn that called nothing: None unless a call was clearly asked for."""
    asked = asked_for_tool(content, tool_names)
    if asked is None:
        return None
    return NOTE.format(what=f" ({asked!r})" if len(asked) <= 60 else "")
