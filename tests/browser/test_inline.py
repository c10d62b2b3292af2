"""Inline completion in a real JupyterLab + chromium against the real server and packaged model:
ghost text streams into a code cell, Tab accepts it, and typing on aborts the request in flight."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import TEST_SETTINGS

pytestmark = pytest.mark.browser


def code_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


NOTEBOOK = {
    "cells": [code_cell("def add(a, b):\n    return a + b"), code_cell("")],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
GHOST = ".jp-GhostText"
CELL_EDITOR = ".jp-Notebook .jp-Cell:nth-child(2) .jp-InputArea-editor .cm-content"


@pytest.fixture
def inline_lab(lab: Any) -> Any:
    """The shared lab with no debounce (every keystroke asks, so typing on must cancel) and a
    notebook of its own; the sidebar's test settings come back afterwards."""
    settings = {**TEST_SETTINGS, "inlineDebounceMs": 0, "inlineMaxLines": 1}
    lab.api("PUT", "lab/api/settings/jupyter-chat-ext:plugin", {"raw": json.dumps(settings)})
    lab.api("PUT", "api/contents/inline.ipynb", {"type": "notebook", "format": "json", "content": NOTEBOOK})
    try:
        yield lab
    finally:
        lab.api("PUT", "lab/api/settings/jupyter-chat-ext:plugin", {"raw": json.dumps(TEST_SETTINGS)})


def test_ghost_text_streams_tab_accepts_typing_cancels(page: Any, inline_lab: Any) -> None:
    requests: list[str] = []
    bodies: list[dict[str, Any]] = []
    aborted: list[str] = []
    inline = "/chat-ext/inline?"  # ServerConnection adds a cache-busting query

    finished: list[dict[str, Any]] = []

    def sent(r: Any) -> None:
        if inline in r.url:
            requests.append(r.url)
            bodies.append(json.loads(r.post_data or "{}"))

    page.on("request", sent)

    def done(r: Any) -> None:
        if inline in r.url:
            finished.append(json.loads(r.post_data or "{}"))

    page.on("requestfinished", done)
    page.on("requestfailed", lambda r: aborted.append(r.failure or "") if inline in r.url else None)
    # a fresh workspace: notebooks other tests opened would be restored behind this one
    page.goto(inline_lab.lab("lab/workspaces/inline/tree/inline.ipynb"))  # its own workspace
    editor = page.locator(CELL_EDITOR)
    editor.wait_for()
    editor.click()
    # the cell got the cursor: the engine reads the cells above before anything is typed
    for _ in range(600):  # the handlers run while the page waits; the first warm loads the model
        if finished:
            break
        page.wait_for_timeout(100)
    assert bodies and bodies[0]["warm"] is True, bodies
    assert bodies[0]["prefix"] == "def add(a, b):\n    return a + b\n\n"
    assert finished == bodies[:1]  # warmed: the keystrokes below each ask, nothing waits

    # typing on: each keystroke asks again and aborts the completion still streaming (the editor
    # closes the bracket itself: the completion is fitted to the ")" left on the line)
    page.keyboard.type("total = add(", delay=40)
    ghost = page.locator(GHOST)
    ghost.wait_for(timeout=60_000)
    has_text = f"(document.querySelector('{GHOST}')?.textContent ?? '').trim().length > 0"
    page.wait_for_function(has_text, timeout=120_000)
    assert len(requests) >= 3, requests
    typed = [b for b in bodies if not b.get("warm")]
    assert typed and all(b["prefix"].startswith(bodies[0]["prefix"]) for b in typed)  # its cache serves them
    assert aborted and all("ABORTED" in f.upper() for f in aborted), aborted

    # the completion ends (the streaming indicator goes), then Tab puts it into the cell
    page.locator(".jp-GhostText-streamingIndicator").wait_for(state="detached", timeout=60_000)
    suggestion = ghost.text_content() or ""
    assert suggestion.strip()
    page.keyboard.press("Tab")
    # the accepted text is an edit too, which asks for the next completion: read the cell
    # without any new ghost text in it
    own_text = (
        "el => { const c = el.cloneNode(true);"
        " c.querySelectorAll('.jp-GhostText').forEach(g => g.remove()); return c.textContent; }"
    )
    page.wait_for_function(f"el => ({own_text})(el) !== 'total = add()'", arg=editor.element_handle())
    source = editor.evaluate(own_text)
    # one line, inserted before the bracket the editor had closed, which the model did not repeat
    # (the ghost widget shows the rest of the line after the suggestion)
    completion = suggestion.removesuffix(")")
    assert completion.strip() and "\n" not in completion
    assert source == f"total = add({completion})", (suggestion, source)
    assert page.page_errors == []
