"""Issue 20 item 4 in a real JupyterLab + chromium: with a model unlikely to call tools (the packaged
135M one: GET /chat-ext/models says ``tools_hint.likely: false``), turning Tools on says so next to
the switch, with a link that opens the Models view."""

from __future__ import annotations

from typing import Any

import pytest
from sidebar import PANEL, open_lab, open_sidebar
from test_sidebar import wait_ready

pytestmark = pytest.mark.browser


def test_tools_switch_says_when_the_model_will_not_call_tools(page: Any, lab: Any) -> None:
    models = lab.api("GET", "chat-ext/models")["models"]
    chat = [m for m in models if m.get("kind") == "chat" and m.get("tools_hint")]
    assert chat and chat[0]["tools_hint"]["likely"] is False, chat  # the packaged model
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    toggle = page.locator(f"{PANEL} button[aria-label='Tools']")
    hint = page.locator(f"{PANEL} .jp-ChatExt-toolsHint")
    if toggle.get_attribute("aria-pressed") == "true":
        toggle.click()
    hint.wait_for(state="detached")
    toggle.click()  # on
    hint.wait_for(timeout=30_000)
    assert "may not call tools" in hint.inner_text()
    assert hint.get_attribute("title")  # the server's reason, on hover
    hint.locator("button", has_text="Models").click()
    page.locator(f"{PANEL} [role='tab'][aria-selected='true']", has_text="Models").wait_for(timeout=30_000)
    assert page.page_errors == []
