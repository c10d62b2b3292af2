"""Issue 20 item 1 in a real JupyterLab + chromium, against the real server and model: editing a
question starts a branch and keeps the old one (with its later turn and both answer versions), the
‹ i/n › switch on the question moves between them and survives a reload; a delete offers Undo and
drops nothing from the store before its time is up."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
from sidebar import PANEL, last_answer, open_lab, open_session, open_sidebar, send, switch_tab
from test_sidebar import wait_answer, wait_for, wait_ready

pytestmark = pytest.mark.browser


def messages_of(lab: Any, sid: str) -> list[dict[str, Any]]:
    return lab.api("GET", f"chat-ext/sessions/{sid}/messages")["messages"]


def test_edit_keeps_the_old_branch_and_the_switch_survives_reload(page: Any, lab: Any) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    send(page, "Name one planet of the solar system.")
    wait_answer(page)
    send(page, "Name one moon.")
    wait_answer(page)
    last_answer(page).locator("button[aria-label='Regenerate']").click()
    wait_answer(page)
    page.locator(f"{PANEL} .jp-ChatExt-versionLabel", has_text="2/2").wait_for()
    sid = lab.api("GET", f"chat-ext/sessions?q={urllib.parse.quote('solar system')}")["sessions"][0]["id"]

    # edit the first question: the new branch is shown, with ‹ 2/2 › on the question
    question = page.locator(f"{PANEL} .jp-ChatExt-message-user").first
    question.hover()
    question.locator("button[aria-label='Edit and resend']").click()
    question.locator("textarea[aria-label='Edit message']").fill("Name one star.")
    question.locator("button", has_text="Save & resend").click()
    wait_answer(page)
    branches = page.locator(f"{PANEL} .jp-ChatExt-message-user .jp-ChatExt-branches")
    branches.locator(".jp-ChatExt-versionLabel", has_text="2/2").wait_for(timeout=60_000)
    assert page.locator(f"{PANEL} .jp-ChatExt-message").count() == 2
    shown = messages_of(lab, sid)
    assert [m["content"] for m in shown if m["role"] == "user"] == ["Name one star."]

    # back to the first branch: its second turn and both answer versions are all there
    branches.locator("button[aria-label='Previous branch']").click()
    page.locator(f"{PANEL} .jp-ChatExt-message-user", has_text="Name one moon.").wait_for(timeout=60_000)
    page.locator(f"{PANEL} .jp-ChatExt-branches .jp-ChatExt-versionLabel", has_text="1/2").wait_for()
    page.locator(
        f"{PANEL} .jp-ChatExt-versions:not(.jp-ChatExt-branches) .jp-ChatExt-versionLabel", has_text="2/2"
    ).wait_for()
    old = messages_of(lab, sid)
    assert [m["role"] for m in old] == ["user", "assistant", "user", "assistant", "assistant"]

    # the branch shown is the server's: a reload shows the same one
    page.reload()
    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "History")
    open_session(page, sid)
    page.locator(f"{PANEL} .jp-ChatExt-message-user", has_text="Name one moon.").wait_for(timeout=60_000)
    page.locator(f"{PANEL} .jp-ChatExt-branches .jp-ChatExt-versionLabel", has_text="1/2").wait_for()
    assert page.page_errors == []


def test_delete_offers_undo_and_keeps_the_row_until_then(page: Any, lab: Any) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    send(page, "Name one river.")
    answer = wait_answer(page)
    answer_id = answer.get_attribute("data-message-id")
    sid = lab.api("GET", f"chat-ext/sessions?q={urllib.parse.quote('one river')}")["sessions"][0]["id"]

    answer.hover()
    answer.locator("button[aria-label='Delete message']").click()
    page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-message-id='{answer_id}']").wait_for(
        state="detached"
    )
    undo = page.locator(f"{PANEL} .jp-ChatExt-notice button", has_text="Undo")
    undo.wait_for()
    assert len(messages_of(lab, sid)) == 2  # nothing dropped from the store yet
    undo.click()
    page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-message-id='{answer_id}']").wait_for()
    assert len(messages_of(lab, sid)) == 2

    # deleted again and left alone: the store drops it once the Undo time is over
    last_answer(page).hover()
    last_answer(page).locator("button[aria-label='Delete message']").click()
    undo.wait_for()
    wait_for(lambda: len(messages_of(lab, sid)) == 1, 60)
    undo.wait_for(state="detached", timeout=30_000)
    assert page.page_errors == []
