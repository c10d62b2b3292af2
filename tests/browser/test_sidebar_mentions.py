"""Issue 20 item 3 in a real JupyterLab + chromium: @-references typed by hand are the same as picked
ones. `@cell:1 …` typed and sent goes as context (a chip on the message, the cell's text stored
with it), leaves the question's text and the chat's title; `@file:gui` finds docs/gui.md from the
top of the server root (fuzzy), without navigating into docs/."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from sidebar import PANEL, open_lab, open_sidebar, send
from test_sidebar import wait_answer, wait_ready

pytestmark = pytest.mark.browser


def stored_session(lab: Any, q: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    found = lab.api("GET", f"chat-ext/sessions?q={urllib.parse.quote(q)}")["sessions"]
    assert len(found) == 1, found
    return found[0], lab.api("GET", f"chat-ext/sessions/{found[0]['id']}/messages")["messages"]


def test_typed_mentions_send_context_and_never_title_the_chat(page: Any, lab: Any) -> None:
    lab.api("PUT", "api/contents/docs", {"type": "directory"})
    lab.api(
        "PUT",
        "api/contents/docs/gui.md",
        {"type": "file", "format": "text", "content": "# The GUI\nPress the blue button."},
    )
    open_lab(page, lab, "lab/tree/demo.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()

    send(page, "@cell:1 What is the value of x in this narwhal cell?")
    page.locator(f"{PANEL} .jp-ChatExt-message-user", has_text="narwhal cell").wait_for(timeout=60_000)
    wait_answer(page)
    user = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    assert "demo.ipynb, cell 1" in user.locator(".jp-ChatExt-sentContext summary").inner_text()
    assert "@cell" not in user.locator(".jp-ChatExt-userText").inner_text()
    session, stored = stored_session(lab, "narwhal cell")
    question = stored[0]
    assert question["content"] == "What is the value of x in this narwhal cell?"
    assert [c["label"] for c in question["metadata"]["context"]] == ["demo.ipynb, cell 1"]
    assert "x = 1" in question["metadata"]["context"][0]["text"]
    assert "@" not in session["title"]

    # a file name typed without its folder: found across the root
    send(page, "@file:gui What does the button do?")
    # the file is looked up before the message is shown: wait for it, then for its answer
    page.locator(f"{PANEL} .jp-ChatExt-message-user", has_text="What does the button do?").wait_for(
        timeout=60_000
    )
    wait_answer(page)
    user = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    assert "docs/gui.md" in user.locator(".jp-ChatExt-sentContext summary").inner_text()
    _, stored = stored_session(lab, "narwhal cell")
    asked = [m for m in stored if m["role"] == "user"][-1]
    assert asked["content"] == "What does the button do?"
    assert [c["label"] for c in asked["metadata"]["context"]] == ["docs/gui.md"]
    assert page.page_errors == []
