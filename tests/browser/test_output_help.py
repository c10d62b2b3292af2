"""Issue 20 item 5 in a real JupyterLab + chromium, a real kernel and the packaged model: any cell
output (not only an error) gets "Explain Output", whose turn carries the cell and its output as
context in a new chat; a request written in a code cell becomes code from the model (Alt+Shift+G),
shown as a diff to accept or reject."""

from __future__ import annotations

from typing import Any

import pytest
from sidebar import PANEL, open_sidebar
from test_fix_context import SOURCE_OF, cell, code_cell, run_cell, select_cell
from test_sidebar import wait_answer, wait_ready

pytestmark = pytest.mark.browser

PROMPT = "# print the sum of 2 and 3"
NOTEBOOK = {
    "cells": [code_cell("total = 40 + 2\ntotal"), code_cell(PROMPT)],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
EXPLAIN = ".jp-cell-toolbar [data-command='chat-ext:explain-output']"


def test_explain_any_output_and_generate_code_from_a_prompt(page: Any, lab: Any) -> None:
    lab.api("PUT", "api/contents/output.ipynb", {"type": "notebook", "format": "json", "content": NOTEBOOK})
    page.goto(lab.lab("lab/workspaces/output-help/tree/output.ipynb"))
    cell(page, 1).wait_for()
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
    run_cell(page, 0)
    cell(page, 0).locator(".jp-OutputArea-output", has_text="42").wait_for(timeout=60_000)

    # a plain result (no error) gets the button; a cell without output does not
    select_cell(page, 0)
    explain = cell(page, 0).locator(EXPLAIN)
    explain.wait_for(state="visible")
    select_cell(page, 1)
    assert not cell(page, 1).locator(EXPLAIN).is_visible()
    open_sidebar(page)
    wait_ready(page)
    select_cell(page, 0)
    explain.click()
    user = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    user.wait_for(timeout=60_000)
    assert "output.ipynb, cell 1 (output)" in user.locator(".jp-ChatExt-sentContext summary").inner_text()
    assert "42" in (user.locator(".jp-ChatExt-sentContextItem pre").text_content() or "")
    wait_answer(page)

    # a request in words in a code cell: Alt+Shift+G, a diff, Accept replaces the cell
    select_cell(page, 1)
    page.keyboard.press("Alt+Shift+G")
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=180_000)
    assert "Generated code for cell 2" in dialog.locator(".jp-Dialog-header").inner_text()
    assert dialog.locator(".jp-ChatExt-diff-del", has_text=PROMPT).count() == 1
    dialog.locator("button.jp-mod-accept").click()
    src = cell(page, 1)
    page.wait_for_function(f"el => ({SOURCE_OF})(el) !== {PROMPT!r}", arg=src.element_handle())
    assert src.evaluate(SOURCE_OF).strip()
    assert page.page_errors == []
