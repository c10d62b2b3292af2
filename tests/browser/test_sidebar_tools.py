"""Agent turns in the sidebar, in a real JupyterLab + chromium against the real server and model:
with Tools on, the model's `edit_cell` call on the open notebook shows an approval card; Deny
leaves the cell as it was and the thread shows the denial, Approve once changes the cell (the
sidebar runs the notebook tool and sends its result back to the agent loop); an approved
`run_cell` runs the cell in the notebook's kernel.

The packaged 135M model seldom picks a tool from a plain question, so the test forces the first
step's call as a client could: the chat body's `tools.tool_choice` names the tool (added to the
sidebar's request on its way out). The arguments are the model's own, grammar-constrained.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from conftest import ARTIFACTS
from sidebar import PANEL, open_lab, open_session, open_sidebar, send, switch_tab
from test_sidebar import wait_answer, wait_ready

pytestmark = pytest.mark.browser

NOTEBOOK = "tools_demo.ipynb"
CELL = ".jp-Notebook .jp-Cell .jp-InputArea-editor .cm-content"
#: the sidebar's chat requests (ServerConnection adds a cache-busting query)
CHAT_URL = re.compile(r".*/chat-ext/sessions/([^/?]+)/chat(\?.*)?$")


SOURCES = ["x = 1", "y = 1", "z = 1"]


def cell_texts(page: Any) -> list[str]:
    """The notebook's cell sources as the editors show them (an empty editor's text is a lone
    newline: the model may well empty a cell)."""
    return [text.removesuffix("\n") for text in page.locator(CELL).all_inner_texts()]


def make_notebook(lab: Any) -> None:
    cells = [
        {"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
        for src in SOURCES
    ]
    notebook = {
        "cells": cells,
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    lab.api("PUT", f"api/contents/{NOTEBOOK}", {"type": "notebook", "format": "json", "content": notebook})


def force_tool(page: Any, forced: dict, sent: list[tuple[str, dict]]) -> None:
    """Every chat request of the page names `forced["name"]` as the first step's tool; `sent`
    keeps (session id, body) of each."""

    def route(r: Any) -> None:
        body = json.loads(r.request.post_data or "{}")
        if "tools" in body:
            body["tools"]["tool_choice"] = {"type": "function", "function": {"name": forced["name"]}}
            body["params"] = {**body.get("params", {}), "max_tokens": 32}
        sent.append((CHAT_URL.match(r.request.url).group(1), body))  # type: ignore[union-attr]
        r.continue_(post_data=json.dumps(body))

    page.route(CHAT_URL, route)


def card_turn(page: Any, tool: str, button: str) -> Any:
    """Wait for the approval card of the streaming turn, press `button`, wait for the turn's end."""
    card = page.locator(f"{PANEL} .jp-ChatExt-approval")
    card.wait_for(timeout=120_000)
    assert tool in card.inner_text()
    call = page.locator(f"{PANEL} .jp-ChatExt-toolCall").last
    assert call.get_attribute("data-state") == "asking"
    card.locator(f"button:has-text('{button}')").click()
    card.wait_for(state="detached")
    wait_answer(page)
    return call


def tool_rows(lab: Any, session_id: str) -> list[dict]:
    messages = lab.api("GET", f"chat-ext/sessions/{session_id}/messages")["messages"]
    return [m for m in messages if m["role"] == "tool"]


def test_approve_and_deny_a_cell_edit(page: Any, lab: Any) -> None:
    make_notebook(lab)
    sent: list[tuple[str, dict]] = []
    forced = {"name": "edit_cell"}
    force_tool(page, forced, sent)
    open_lab(page, lab, f"lab/workspaces/tools/tree/{NOTEBOOK}")  # not the shared default one
    page.locator(CELL).first.wait_for()
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    toggle = page.locator(f"{PANEL} button[aria-label='Tools']")
    assert toggle.get_attribute("aria-pressed") == "false"  # off by default
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"

    # Deny: the cell stays, the model is told, the row says so
    send(page, "Use edit_cell to change cell 0 to: x = 2")
    call = card_turn(page, "edit_cell", "Deny")
    assert call.get_attribute("data-state") == "denied"
    assert cell_texts(page) == SOURCES
    session_id, body = sent[0]
    assert body["tools"]["client"] == ["list_cells", "read_cell", "insert_cell", "edit_cell", "run_cell"]
    denied = tool_rows(lab, session_id)
    assert [(r["metadata"]["name"], r["metadata"]["approval"]) for r in denied] == [("edit_cell", "denied")]

    # Approve once: the sidebar edits the cell and sends the result back
    send(page, "Use edit_cell to change cell 0 to: x = 2")
    call = card_turn(page, "edit_cell", "Approve once")
    assert call.get_attribute("data-state") == "done"
    rows = tool_rows(lab, session_id)
    assert [(r["metadata"]["name"], r["metadata"]["approval"]) for r in rows] == [
        ("edit_cell", "denied"),
        ("edit_cell", "approved"),
    ]
    # the model picks the cell (greedy: the same pick every run); the notebook has it
    args = json.loads(rows[1]["metadata"]["arguments"])
    assert 0 <= args["index"] < len(SOURCES), f"the model chose a cell the notebook lacks: {args}"
    assert rows[1]["metadata"]["is_error"] is False, rows[1]
    assert rows[1]["content"].startswith(f"Cell {args['index']} (code) now has"), rows[1]
    want = [args["source"] if i == args["index"] else src for i, src in enumerate(SOURCES)]
    assert cell_texts(page) == want

    # the rows fold: a click shows the arguments and the result the model read
    call.locator("summary").click()
    assert rows[1]["content"][:20] in call.locator(".jp-ChatExt-toolResult").inner_text()

    # run_cell: approved, the cell runs in the notebook's kernel and its outputs go back as text
    forced["name"] = "run_cell"
    target = next(i for i, src in enumerate(want) if src.strip())  # the edit may have emptied one
    send(page, f"Use run_cell to run cell {target}")
    card_turn(page, "run_cell", "Approve once")
    ran = tool_rows(lab, session_id)[2]
    assert (ran["metadata"]["name"], ran["metadata"]["approval"]) == ("run_cell", "approved")
    index = json.loads(ran["metadata"]["arguments"])["index"]
    prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").nth(index)
    if want[index].strip():  # code ran in the kernel: it has an execution count
        assert ran["content"].startswith(f"Ran cell {index} [1]"), ran
        assert "[1]" in prompt.inner_text()
    else:  # the model picked the cell it emptied: it ran, with nothing to count
        assert ran["content"].startswith(f"Ran cell {index}."), ran
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "sidebar-tools.png"))
    assert page.page_errors == []

    # reopened later, the chat shows its calls from the stored rows
    page.reload()
    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "History")
    open_session(page, session_id)
    calls = page.locator(f"{PANEL} .jp-ChatExt-toolCall")
    calls.nth(2).wait_for()
    states = [calls.nth(i).get_attribute("data-state") for i in range(calls.count())]
    assert states == ["denied", "done", "error" if ran["metadata"]["is_error"] else "done"]
    assert page.locator(f"{PANEL} .jp-ChatExt-approval").count() == 0
