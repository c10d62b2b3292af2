"""The sidebar's turn papercuts in a real JupyterLab + chromium, against the real server and model:
the last chat reopens after a reload, regenerate keeps answer versions (‹ 1/2 ›), Continue after a
stop grows the same message until it is complete, PDF citations open at the cited page."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from typing import Any

import pytest
from conftest import ARTIFACTS
from sidebar import PANEL, last_answer, open_lab, open_session, open_sidebar, send, switch_tab
from test_sidebar import STREAMING_MD, stream_turn, wait_answer, wait_ready

pytestmark = pytest.mark.browser

LAST_CHAT_KEY = "jupyter-chat-ext:last-chat"


def remembered(lab: Any) -> Any:
    """What the state DB of the default workspace holds for the last chat (saved by the lab)."""
    workspace = lab.api("GET", "lab/api/workspaces/default")
    return workspace.get("data", {}).get(LAST_CHAT_KEY)


def wait_remembered(lab: Any, value: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if remembered(lab) == value:
            return
        time.sleep(0.25)
    raise AssertionError(f"the workspace did not save {value!r}: {remembered(lab)!r}")


def session_of(lab: Any, q: str) -> str:
    found = lab.api("GET", f"chat-ext/sessions?q={urllib.parse.quote(q)}")["sessions"]
    assert len(found) == 1, found
    return found[0]["id"]


def test_reload_reopens_the_last_chat(page: Any, lab: Any) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    send(page, "My codeword is walrus. Say hi.")
    answer = wait_answer(page)
    answer_id = answer.get_attribute("data-message-id")
    sid = session_of(lab, "walrus")
    wait_remembered(lab, {"session": sid})  # the lab saves its state DB with the workspace

    page.reload()
    open_sidebar(page)
    wait_ready(page)
    messages = page.locator(f"{PANEL} .jp-ChatExt-message")
    page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-message-id='{answer_id}']").wait_for()
    assert messages.count() == 2
    assert "walrus" in messages.nth(0).inner_text()
    assert page.locator(f"{PANEL} .jp-ChatExt-notice").count() == 0

    # deleted since: the next visit falls back to a new chat, quietly, and forgets it
    lab.api("DELETE", f"chat-ext/sessions/{sid}")
    page.reload()
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} .jp-ChatExt-empty").wait_for()
    assert page.locator(f"{PANEL} .jp-ChatExt-chatTitle").inner_text() == "New chat"
    wait_remembered(lab, None)
    assert page.locator(f"{PANEL} .jp-ChatExt-notice").count() == 0
    assert page.page_errors == []


def test_regenerate_keeps_earlier_answers_as_versions(page: Any, lab: Any) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    send(page, "Name one animal that lives in the sea.")
    first = wait_answer(page)
    first_id = first.get_attribute("data-message-id")
    assert first.locator(".jp-ChatExt-versions").count() == 0  # one answer: no ‹ 1/1 ›

    first.locator("button[aria-label='Regenerate']").click()
    second = wait_answer(page)
    second_id = second.get_attribute("data-message-id")
    assert second_id != first_id
    label = second.locator(".jp-ChatExt-versionLabel")
    assert label.inner_text() == "2/2"
    assert page.locator(f"{PANEL} .jp-ChatExt-message").count() == 2  # one version shown per turn

    sid = session_of(lab, "lives in the sea")
    stored = lab.api("GET", f"chat-ext/sessions/{sid}/messages")["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant", "assistant"]
    assert stored[1]["parent_id"] == stored[2]["parent_id"] == stored[0]["id"]

    last_answer(page).locator("button[aria-label='Previous answer']").click()
    shown = page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-message-id='{first_id}']")
    shown.wait_for()
    assert shown.locator(".jp-ChatExt-versionLabel").inner_text() == "1/2"
    assert shown.locator("button[aria-label='Previous answer']").is_disabled()
    shown.locator("button[aria-label='Next answer']").click()
    page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-message-id='{second_id}']").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(PANEL).screenshot(path=str(ARTIFACTS / "sidebar-versions.png"))

    # the versions survive a reload (they are the server's, not this page's)
    page.reload()
    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "History")
    open_session(page, sid)
    page.locator(f"{PANEL} .jp-ChatExt-versionLabel", has_text="2/2").wait_for()
    assert page.page_errors == []


def test_continue_after_stop_grows_the_same_message(page: Any, lab: Any) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    page.locator(f"{PANEL} button[aria-label='Chat options']").click()
    # few tokens: the continuation must finish (as "length" at the latest) on a loaded machine too
    page.locator(f"{PANEL} .jp-ChatExt-options label:has-text('Max tokens') input").fill("16")
    page.locator(f"{PANEL} .jp-ChatExt-options button:has-text('Save')").click()
    send(page, "Tell a long story about a lighthouse keeper and a seal.")
    page.wait_for_function(
        f"""() => {{
          const m = document.querySelector('{STREAMING_MD}');
          return m && m.textContent.trim().length > 3;
        }}""",
        timeout=120_000,
    )
    page.locator(f"{PANEL} button[aria-label='Stop generating']").click()
    stopped = page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-status='interrupted']")
    stopped.wait_for(timeout=10_000)
    answer_id = stopped.get_attribute("data-message-id")
    sid = session_of(lab, "lighthouse keeper")
    partial = lab.api("GET", f"chat-ext/sessions/{sid}/messages")["messages"][-1]
    assert str(partial["id"]) == answer_id and partial["content"].strip()

    button = stopped.locator("button[aria-label='Continue answer']")
    button.click()
    same = page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-message-id='{answer_id}']")
    page.locator(
        f"{PANEL} .jp-ChatExt-message-assistant[data-message-id='{answer_id}'][data-status='complete']"
    ).wait_for(timeout=300_000)
    assert page.locator(f"{PANEL} .jp-ChatExt-message-assistant").count() == 1
    assert same.locator(".jp-ChatExt-badge").count() == 0  # no longer "Stopped"

    stored = lab.api("GET", f"chat-ext/sessions/{sid}/messages")["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    final = stored[-1]
    assert final["id"] == partial["id"] and final["status"] == "complete"
    assert final["content"].startswith(partial["content"]) and len(final["content"]) > len(partial["content"])
    shown = same.locator(".jp-ChatExt-markdown").inner_text()
    assert len(shown.strip()) > len(partial["content"].strip()) - 5
    assert page.page_errors == []


def two_page_pdf() -> bytes:
    """A minimal valid PDF with two pages, each saying its number (xref offsets computed)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R 5 0 R] /Count 2 >>",
    ]
    for page in (1, 2):
        content = f"BT /F1 48 Tf 72 700 Td (Page {page}) Tj ET".encode()
        n = len(objects) + 1
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {n + 1} 0 R "
            f"/Resources << /Font << /F1 7 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_citation_opens_at_the_cited_page(page: Any, lab: Any) -> None:
    pdf = base64.b64encode(two_page_pdf()).decode()
    lab.api("PUT", "api/contents/paper.pdf", {"type": "file", "format": "base64", "content": pdf})
    # A real answer, exported, given a citation of page 2 of the PDF, imported back.
    session = lab.api("POST", "chat-ext/sessions", {"title": "PDF citation"})
    stream_turn(lab, session["id"], "Say hi.")
    exported = lab.api("GET", f"chat-ext/sessions/{session['id']}/export?format=json")
    answer = [m for m in exported["messages"] if m["role"] == "assistant"][-1]
    citation = {"source": "paper.pdf", "location": {"page": 2}, "score": 0.9, "text": "Page 2"}
    answer["metadata"] = {**(answer.get("metadata") or {}), "citations": [citation]}
    imported = lab.api("POST", "chat-ext/sessions/import", exported)

    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "History")
    open_session(page, imported["id"])
    link = last_answer(page).locator(".jp-ChatExt-citation")
    assert "paper.pdf, p. 2" in link.inner_text()
    link.click()
    viewer = page.frame_locator(".jp-MainAreaWidget .jp-PDFContainer iframe").locator("object")
    page.wait_for_function(
        """() => {
          const f = document.querySelector('.jp-MainAreaWidget .jp-PDFContainer iframe');
          const o = f && f.contentDocument && f.contentDocument.querySelector('object');
          return o && o.data.endsWith('#page=2');
        }""",
        timeout=30_000,
    )
    assert viewer.get_attribute("type") == "application/pdf"
    page.wait_for_timeout(5000)  # the viewer reloads with the fragment: the screenshot shows page 2
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "pdf-citation-page.png"))
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert tab.inner_text().strip() == "paper.pdf"
    assert json.dumps(page.page_errors) == "[]"
