"""Fix this error and @-context in a real JupyterLab + chromium, a real kernel and the packaged
model: a failing cell gets a Fix button, its turn carries the error as context, the answer's code
applies to the cell after a diff preview and undoes; `@var`, `@file` attach chips (a pandas
DataFrame with its shape; a busy kernel and an unknown name get a clear chip, never a hang)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ARTIFACTS
from sidebar import PANEL, open_sidebar
from test_sidebar import wait_answer, wait_ready

pytestmark = pytest.mark.browser

FAILING = "total = int(df['a'].sum())\nratio = total / 0"


def code_cell(source: str) -> dict[str, Any]:
    return {"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


NOTEBOOK = {
    "cells": [
        code_cell("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3], 'b': [4.0, 5.0, 6.0]})"),
        code_cell(FAILING),
        code_cell("import time\ntime.sleep(3)"),
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}
FIX_BUTTON = ".jp-cell-toolbar [data-command='chat-ext:fix-error']"
COMPOSER = f"{PANEL} textarea[aria-label='Message']"
# a cell's own text, without the ghost text of an inline completion
SOURCE_OF = (
    "el => { const c = el.querySelector('.cm-content').cloneNode(true);"
    " c.querySelectorAll('.jp-GhostText').forEach(g => g.remove());"
    " return Array.from(c.querySelectorAll('.cm-line')).map(l => l.textContent).join('\\n'); }"
)


def cell(page: Any, n: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell").nth(n)


def select_cell(page: Any, n: int) -> None:
    cell(page, n).locator(".jp-InputPrompt").click()
    # the notebook gives the cell the focus a frame after the click: keys before that are lost
    page.wait_for_function(
        f"document.activeElement === document.querySelectorAll('.jp-Notebook .jp-Cell')[{n}]"
    )


def run_cell(page: Any, n: int, wait: bool = True) -> None:
    select_cell(page, n)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run Selected Cell and Do not Advance").first.click()
    if wait:  # its execution count shows once the kernel ran it
        prompt = f"document.querySelectorAll('.jp-Notebook .jp-Cell')[{n}].querySelector('.jp-InputPrompt')"
        page.wait_for_function(f"/\\[\\d+\\]/.test({prompt}.textContent)", timeout=60_000)


def wait_idle(page: Any) -> None:
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=60_000)


def attach(page: Any, ref: str, option: str | None = None) -> None:
    """Type an @-reference in the composer; take `option` from the menu (else the typed one)."""
    box = page.locator(COMPOSER)
    box.click()
    box.press("End")
    page.keyboard.type(ref)
    menu = page.locator(f"{PANEL} .jp-ChatExt-mentionMenu")
    menu.wait_for()
    if option:
        menu.locator(".jp-ChatExt-mentionOption", has_text=option).first.click()
    else:
        box.press("Enter")


def test_fix_error_apply_undo_and_context_chips(page: Any, lab: Any) -> None:
    lab.api("PUT", "api/contents/fix.ipynb", {"type": "notebook", "format": "json", "content": NOTEBOOK})
    # a fresh workspace: notebooks other tests opened would be restored behind this one
    page.goto(lab.lab("lab/workspaces/fix-context/tree/fix.ipynb"))  # not the shared default one
    cell(page, 1).wait_for()
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)
    run_cell(page, 0)
    run_cell(page, 1)
    cell(page, 1).locator(".jp-OutputArea-output", has_text="ZeroDivisionError").wait_for(timeout=60_000)

    # the Fix button shows on the failing cell only
    run_cell(page, 0)  # (cell 0 active again: no error there)
    wait_idle(page)
    assert not cell(page, 0).locator(FIX_BUTTON).is_visible()
    select_cell(page, 1)
    fix = cell(page, 1).locator(FIX_BUTTON)
    fix.wait_for(state="visible")
    open_sidebar(page)
    wait_ready(page)
    fix.click()

    # a new turn: the question, the error as a context chip (code and traceback, colours stripped)
    user = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    chip = user.locator(".jp-ChatExt-chip[data-kind='error']")
    chip.wait_for()
    assert chip.inner_text().strip().endswith("fix.ipynb, cell 2: ZeroDivisionError")
    sent = user.locator(".jp-ChatExt-sentContextItem pre").text_content() or ""
    assert "ratio = total / 0" in sent and "ZeroDivisionError: division by zero" in sent
    assert "\x1b[" not in sent and "import pandas as pd" in sent  # the cell before went along
    answer = wait_answer(page)

    # Apply: a diff preview, then the cell holds the answer's code; Undo puts it back
    answer.locator("button[aria-label='Apply to cell']").first.click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    assert "cell 2 of fix.ipynb" in dialog.locator(".jp-Dialog-header").inner_text()
    assert dialog.locator(".jp-ChatExt-diff-del", has_text="ratio = total / 0").count() == 1
    added = [t.removeprefix("+ ") for t in dialog.locator(".jp-ChatExt-diff-add").all_inner_texts()]
    dialog.locator("button.jp-mod-accept").click()
    src = cell(page, 1)
    page.wait_for_function(f"el => ({SOURCE_OF})(el) !== {FAILING!r}", arg=src.element_handle())
    applied = src.evaluate(SOURCE_OF)
    assert all(line in applied for line in added), (added, applied)
    page.get_by_role("button", name="Undo").click()
    page.wait_for_function(f"el => ({SOURCE_OF})(el) === {FAILING!r}", arg=src.element_handle())

    # @var while the kernel runs a cell: a "kernel busy" chip at once
    run_cell(page, 2, wait=False)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='busy']").wait_for()
    attach(page, "@var:df")
    busy = page.locator(f"{PANEL} .jp-ChatExt-chips .jp-ChatExt-chip[data-state='error']")
    busy.wait_for()
    assert "kernel busy" in busy.inner_text()
    busy.locator(".jp-ChatExt-chipRemove").click()
    wait_idle(page)

    # idle: the menu lists the kernel's variables; df becomes a chip with its shape
    attach(page, "@var:", option="df")
    ready = page.locator(f"{PANEL} .jp-ChatExt-chips .jp-ChatExt-chip[data-kind='var'][data-state='ready']")
    ready.wait_for()
    assert "df: DataFrame (3, 2)" in ready.inner_text()
    attach(page, "@var:nope")
    missing = page.locator(f"{PANEL} .jp-ChatExt-chips .jp-ChatExt-chip[data-state='error']")
    missing.wait_for()
    assert "no such variable" in missing.inner_text()
    attach(page, "@file:", option="demo.ipynb")
    chips = page.locator(f"{PANEL} .jp-ChatExt-chips")
    chips.locator(".jp-ChatExt-chip[data-kind='file'][data-state='ready']").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "fix-context-chips.png"))

    # sent: only the ready items, shown folded on the message and stored with it
    box = page.locator(COMPOSER)
    assert "@" not in box.input_value()
    box.press("End")
    page.keyboard.type("What is in df?")
    box.press("Enter")
    user = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    user.locator(".jp-ChatExt-chip[data-kind='var']").wait_for()
    assert page.locator(f"{PANEL} .jp-ChatExt-chips").count() == 0
    # the user message is stored when the turn starts: no need to wait for this answer (the
    # stream closes with the page, which stops it on the server)
    last_user = f"[...document.querySelectorAll('{PANEL} .jp-ChatExt-message-user')].pop()"
    page.wait_for_function(f"Number({last_user}.dataset.messageId) > 0")
    message_id = int(user.get_attribute("data-message-id") or 0)
    # the chat of the fix turn, the one changed last
    session = lab.api("GET", "chat-ext/sessions?limit=1")["sessions"][0]
    stored = lab.api("GET", f"chat-ext/sessions/{session['id']}/messages")["messages"]
    question = next(m for m in stored if m["id"] == message_id)
    assert question["content"] == "What is in df?"
    context = question["metadata"]["context"]
    assert [c["kind"] for c in context] == ["var", "file"]
    assert "shape (3, 2)" in context[0]["text"] and context[1]["label"] == "demo.ipynb"
    assert page.page_errors == []
