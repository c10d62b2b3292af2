"""ChatWidget in a real browser: a real ``jupyter lab``, a notebook, Playwright + Debian's chromium.

Uses the fixtures of tests/browser/conftest.py: ``fresh_lab`` (a JupyterLab subprocess of this
module's own) and ``page`` (a chromium page). The kernel that JupyterLab starts finds the server
through the runtime files (no URL in its environment), so this also checks server discovery end to
end: the answer typed into the widget is stored by the server and visible through its HTTP API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.browser


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(nb, path)


def open_and_run_all(page: Any, lab: Any, name: str) -> None:
    page.goto(lab.lab(f"lab/tree/{name}"))
    page.locator(".jp-NotebookPanel").first.wait_for()
    # a "Select Kernel" dialog may come up: accept the default kernel
    try:
        page.locator(".jp-Dialog").wait_for(timeout=3000)
        page.locator(".jp-Dialog .jp-mod-accept").click()
    except Exception:
        pass
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=120_000)
    # make the notebook the active widget (the chat sidebar may hold focus after other tests)
    page.locator(".jp-NotebookPanel .jp-Cell .jp-InputPrompt").first.click()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def test_chat_widget_answers_in_the_browser(fresh_lab: Any, page: Any) -> None:
    lab = fresh_lab
    write_notebook(
        lab.root / "chat.ipynb",
        [
            "%load_ext jupyter_chat_ext\n%chat status",
            "from jupyter_chat_ext.widgets import ChatWidget\nw = ChatWidget(max_tokens=16)\nw",
            # an agent turn of one step: the model must call read_file (a read tool: no approval)
            "READ = {'type': 'function', 'function': {'name': 'read_file'}}\n"
            "ChatWidget(max_tokens=48, tools=['read_file'], tool_choice=READ, max_steps=1)",
        ],
    )
    open_and_run_all(page, lab, "chat.ipynb")
    # the kernel found the server by itself (runtime files), not the in-process fallback
    page.get_by_text("mode: server").wait_for(timeout=120_000)
    chat = page.locator(".jce-chat").first
    chat.wait_for(timeout=120_000)
    chat.locator("textarea").fill("Say hello to <b>Jupyter</b>.")
    chat.locator("textarea").press("Enter")
    # the user's text is shown as text (no HTML injection), then the answer arrives
    user = chat.locator(".jce-message.jce-user .jce-content").first
    user.wait_for()
    assert user.text_content() == "Say hello to <b>Jupyter</b>."
    assert chat.locator(".jce-user b").count() == 0
    answer = chat.locator(".jce-message.jce-assistant:not(.jce-streaming) .jce-content").first
    answer.wait_for(timeout=120_000)
    page.wait_for_function(
        "() => !document.querySelector('.jce-chat .jce-streaming') && "
        "document.querySelector('.jce-chat .jce-stop').disabled"
    )
    text = answer.text_content() or ""
    assert text.strip()
    # stored by the server: the sidebar and the magics see the same session
    found = []
    for s in lab.api("GET", "chat-ext/sessions")["sessions"]:
        msgs = lab.api("GET", f"chat-ext/sessions/{s['id']}/messages")["messages"]
        found += [m["content"] for m in msgs if m["role"] == "assistant"]
    assert text in found
    # the session picker lists the new session
    options = chat.locator("select option")
    assert options.count() >= 2
    # the tools widget: its call shows folded in the thread, unfolding shows the arguments
    agent = page.locator(".jce-chat").nth(1)
    assert agent.locator(".jce-tools-toggle").is_checked()
    agent.locator("textarea").fill("Read the file notes.txt.")
    agent.locator("textarea").press("Enter")
    summary = agent.locator(".jce-tool-call summary", has_text="read_file")
    summary.wait_for(timeout=120_000)
    summary.click()
    assert '"path"' in (agent.locator(".jce-tool-args").first.text_content() or "")
