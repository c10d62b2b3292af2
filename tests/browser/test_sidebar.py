"""The chat sidebar in a real JupyterLab + chromium, against the real server and packaged model."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import ARTIFACTS, start_lab, stop_lab
from playwright.sync_api import expect
from sidebar import (
    PANEL,
    last_answer,
    open_lab,
    open_session,
    open_sidebar,
    run_from_palette,
    send,
    switch_tab,
)

pytestmark = pytest.mark.browser

# Rendered-answer lengths seen while an answer streams (a page-side MutationObserver).
STREAMING_MD = (
    '#jupyter-chat-ext-panel .jp-ChatExt-message-assistant[data-status="streaming"] .jp-ChatExt-markdown'
)
WATCH_STREAM = f"""
() => {{
  window.__streamLengths = [];
  const obs = new MutationObserver(() => {{
    const m = document.querySelector('{STREAMING_MD}');
    if (m) {{ window.__streamLengths.push(m.textContent.length); }}
  }});
  const options = {{subtree: true, childList: true, characterData: true}};
  obs.observe(document.querySelector('#jupyter-chat-ext-panel'), options);
}}
"""


def wait_for(check: Any, timeout: float) -> None:
    """Poll ``check()`` (a server-side condition) until it holds, for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {check}")
        time.sleep(0.5)


def wait_ready(page: Any) -> None:
    """The health check passed: the composer is enabled."""
    page.locator(f"{PANEL} textarea[aria-label='Message']:not([disabled])").wait_for(timeout=60_000)


def wait_answer(page: Any, timeout: float = 180_000) -> Any:
    """Wait for the last answer to end; fail with the error the sidebar shows if it failed."""
    answer = last_answer(page)
    ended = ":is([data-status='complete'], [data-status='error'])"
    page.locator(f"{PANEL} .jp-ChatExt-message-assistant:last-child{ended}").wait_for(timeout=timeout)
    status = answer.get_attribute("data-status")
    assert status == "complete", f"the answer failed: {answer.inner_text()}"
    return answer


def stream_turn(lab: Any, session_id: str, content: str, max_tokens: int = 8) -> str:
    """One real turn through the HTTP API (SSE); returns the raw event stream."""
    body = json.dumps({"content": content, "params": {"max_tokens": max_tokens, "temperature": 0}}).encode()
    req = urllib.request.Request(
        f"{lab.url}chat-ext/sessions/{session_id}/chat",
        data=body,
        method="POST",
    )
    req.add_header("Authorization", f"token {lab.token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.read().decode()


def test_send_stream_metrics_reload_and_search(page: Any, lab: Any) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    # keyboard: the "focus chat" shortcut puts the cursor in the composer
    page.locator("#jp-main-dock-panel").click()
    page.keyboard.press("Alt+Shift+C")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Message"

    page.evaluate(WATCH_STREAM)
    # the sidebar samples (temperature 0.7, a fresh seed): a question whose answer runs to several
    # tokens, so the stream shows more than one length (one "Hello" rendered whole once failed this)
    send(page, "My codeword is quokka. Name five animals that live in Australia, one per line.")
    answer = wait_answer(page)
    lengths = page.evaluate("window.__streamLengths")
    assert len({n for n in lengths if n > 0}) >= 2, f"the answer did not stream: {lengths}"
    text = answer.locator(".jp-ChatExt-markdown").inner_text()
    assert text.strip(), "empty answer"
    metrics = answer.locator(".jp-ChatExt-metrics").inner_text()
    assert re.search(r"TTFT \d+(\.\d+)? m?s · \d+\.\d tok/s · \d+ tokens", metrics), metrics
    # the send button is back (not the stop button) and the message box is empty
    assert page.locator(f"{PANEL} button[aria-label='Send message']").count() == 1
    assert page.locator(f"{PANEL} textarea[aria-label='Message']").input_value() == ""

    # Reload: the session is in History with both messages, and search finds it by message text.
    page.reload()
    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "History")
    search = page.locator(f"{PANEL} input[aria-label='Search chats']")
    search.fill("quokka")
    info = page.locator(f"{PANEL} .jp-ChatExt-listInfo")
    info.filter(has_text="1 chat matches").wait_for()
    items = page.locator(f"{PANEL} .jp-ChatExt-session")
    assert items.count() == 1
    assert re.search(r"2 msg", items.first.inner_text())
    search.fill("no-such-word-xyzzy")
    info.filter(has_text="0 chats match").wait_for()
    assert items.count() == 0
    search.fill("quokka")
    info.filter(has_text="1 chat matches").wait_for()
    items.first.locator(".jp-ChatExt-sessionTitle").click()
    page.locator(f"{PANEL} .jp-ChatExt-message").nth(1).wait_for()
    messages = page.locator(f"{PANEL} .jp-ChatExt-message")
    assert messages.count() == 2
    assert "quokka" in messages.nth(0).inner_text()
    restored = messages.nth(1).locator(".jp-ChatExt-markdown")
    expect(restored).not_to_be_empty()  # rendermime fills the element asynchronously after a reload
    assert restored.inner_text().strip() == text.strip()
    assert messages.nth(1).locator(".jp-ChatExt-metrics").inner_text() == metrics
    assert page.page_errors == []


def test_stop_keeps_partial_answer(page: Any, lab: Any) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    # per-chat options: a long answer for this chat only
    page.locator(f"{PANEL} button[aria-label='Chat options']").click()
    page.locator(f"{PANEL} .jp-ChatExt-options label:has-text('Max tokens') input").fill("400")
    page.locator(f"{PANEL} .jp-ChatExt-options button:has-text('Save')").click()
    send(page, "Write a very long story about a dragon who learns to program computers.")
    streaming = page.locator(STREAMING_MD)
    page.wait_for_function(
        f"""() => {{
          const m = document.querySelector('{STREAMING_MD}');
          return m && m.textContent.length > 20;
        }}""",
        timeout=120_000,
    )
    assert streaming.count() == 1
    page.locator(f"{PANEL} button[aria-label='Stop generating']").click()
    answer = page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-status='interrupted']")
    answer.wait_for(timeout=10_000)
    assert answer.locator(".jp-ChatExt-badge").inner_text() == "Stopped"
    partial = answer.locator(".jp-ChatExt-markdown").inner_text()
    assert len(partial.strip()) >= 10

    # the server stored the partial answer as interrupted, with far fewer than 400 tokens
    sessions = lab.api("GET", "chat-ext/sessions?q=dragon")["sessions"]
    assert len(sessions) == 1
    assert sessions[0]["params"].get("max_tokens") == 400
    stored = lab.api("GET", f"chat-ext/sessions/{sessions[0]['id']}/messages")["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["status"] == "interrupted"
    assert stored[1]["content"].strip() and len(stored[1]["content"]) >= len(partial.strip()) - 5

    page.reload()
    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "History")
    page.locator(f"{PANEL} .jp-ChatExt-session", has_text="msg").first.wait_for()
    open_session(page, sessions[0]["id"])
    page.locator(f"{PANEL} .jp-ChatExt-message-assistant[data-status='interrupted']").wait_for()


XSS_ANSWER = """Here is the code:

```python
print("inserted from chat")
```

Math: $e^{i\\pi} + 1 = 0$

<img src=x onerror="window.__xss = 'img'">
<script>window.__xss = 'script'</script>
<a href="javascript:window.__xss='link'">click me</a>
<iframe srcdoc="<script>parent.__xss='iframe'</script>"></iframe>
"""


def test_rendering_is_sanitized_and_code_goes_into_the_notebook(page: Any, lab: Any) -> None:
    # A real session with a real answer, exported, its answer replaced by hostile markdown, imported.
    session = lab.api("POST", "chat-ext/sessions", {"title": "Hostile answer"})
    stream_turn(lab, session["id"], "Say hi.")
    exported = lab.api("GET", f"chat-ext/sessions/{session['id']}/export?format=json")
    answers = [m for m in exported["messages"] if m["role"] == "assistant"]
    assert answers, exported
    answers[-1]["content"] = XSS_ANSWER
    imported = lab.api("POST", "chat-ext/sessions/import", exported)

    page.add_init_script("window.__xss = 'none';")
    open_lab(page, lab, "lab/tree/demo.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "History")
    open_session(page, imported["id"])
    answer = last_answer(page)
    answer.locator(".jp-ChatExt-code").wait_for()
    page.wait_for_timeout(1000)  # give any injected handler the chance to run

    assert page.evaluate("window.__xss") == "none"
    panel_html = page.locator(PANEL).inner_html()
    assert "onerror" not in panel_html
    assert answer.locator("script, iframe").count() == 0
    assert answer.locator("a[href^='javascript']").count() == 0
    # markdown went through rendermime: a code block with its toolbar, math typeset
    assert answer.locator(".jp-ChatExt-codeLang").inner_text() == "python"
    assert answer.locator("mjx-container, .MathJax").count() >= 1

    # Insert the code block as a new cell of the active notebook, then replace the active cell.
    # (The composer had focus; the notebook stays the current one for the tracker.)
    cells = page.locator(".jp-Notebook .jp-Cell")
    assert cells.count() == 1
    answer.locator("button[aria-label='Insert as a new cell in the active notebook']").click()
    page.wait_for_function("document.querySelectorAll('.jp-Notebook .jp-Cell').length === 2")
    assert 'print("inserted from chat")' in cells.nth(1).locator(".jp-InputArea-editor").inner_text()
    cells.nth(0).locator(".jp-InputPrompt").click()
    answer.locator("button[aria-label='Replace the active cell']").click()
    page.wait_for_function(
        """() => document.querySelectorAll('.jp-Notebook .jp-Cell')[0]
             .querySelector('.jp-InputArea-editor').textContent.includes('inserted from chat')"""
    )
    assert page.evaluate("window.__xss") == "none"
    assert page.page_errors == []


def _background(page: Any) -> tuple[int, int, int]:
    rgb = page.evaluate(f"getComputedStyle(document.querySelector('{PANEL}')).backgroundColor")
    return tuple(int(x) for x in re.findall(r"\d+", rgb)[:3])  # type: ignore[return-value]


def test_light_and_dark_theme_screenshots(page: Any, lab: Any) -> None:
    session = lab.api("POST", "chat-ext/sessions", {"title": "Adding numbers"})
    stream_turn(lab, session["id"], "Write a Python function that adds two numbers.", max_tokens=60)
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "History")
    open_session(page, session["id"])
    page.locator(f"{PANEL} .jp-ChatExt-message-assistant .jp-ChatExt-metrics").wait_for()
    page.locator(f"{PANEL} .jp-ChatExt-message-assistant .jp-ChatExt-markdown p").first.wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    assert page.evaluate("document.body.dataset.jpThemeLight") == "true"
    light = _background(page)
    assert sum(light) / 3 > 180, light
    page.locator(PANEL).screenshot(path=str(ARTIFACTS / "sidebar-light.png"))
    page.screenshot(path=str(ARTIFACTS / "lab-light.png"))

    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Theme", exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text("JupyterLab Dark", exact=True).click()
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_timeout(500)
    dark = _background(page)
    assert sum(dark) / 3 < 80, dark
    # text stays readable: the message text is light on the dark background
    color = page.evaluate(f"getComputedStyle(document.querySelector('{PANEL} .jp-ChatExt-userText')).color")
    assert sum(int(x) for x in re.findall(r"\d+", color)[:3]) / 3 > 150, color
    page.locator(PANEL).screenshot(path=str(ARTIFACTS / "sidebar-dark.png"))
    page.screenshot(path=str(ARTIFACTS / "lab-dark.png"))

    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Theme", exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text("JupyterLab Light", exact=True).click()
    page.wait_for_function("document.body.dataset.jpThemeLight === 'true'", timeout=30_000)
    assert Path(ARTIFACTS / "sidebar-dark.png").stat().st_size > 1000


def test_banner_when_server_extension_is_missing(page: Any, tmp_path: Path) -> None:
    server, proc = start_lab(tmp_path, chat_extension=False)
    try:
        open_lab(page, server)
        open_sidebar(page)
        banner = page.locator(f"{PANEL} .jp-ChatExt-banner")
        banner.wait_for(timeout=30_000)
        assert banner.get_attribute("data-health") == "missing"
        assert "Server extension missing" in banner.inner_text()
        assert page.locator(f"{PANEL} textarea[aria-label='Message']").is_disabled()
    finally:
        stop_lab(proc)


def test_model_unload_and_load_with_progress(page: Any, lab: Any) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    pill = page.locator(f"{PANEL} .jp-ChatExt-modelBar .jp-ChatExt-pill")
    pill.filter(has_text="loaded on").wait_for(timeout=120_000)
    options = page.locator(f"{PANEL} select[aria-label='Model'] option")
    labels = options.all_inner_texts()
    assert any("135M" in t and "MB" in t for t in labels), labels  # size is shown

    page.locator(f"{PANEL} .jp-ChatExt-modelBar button", has_text="Unload").click()
    pill.filter(has_text="not loaded").wait_for()
    assert lab.api("GET", "chat-ext/models/smollm2-135m-instruct")["state"] == "unloaded"
    page.locator(f"{PANEL} .jp-ChatExt-modelBar button", has_text="Load").click()
    pill.filter(has_text="loaded on").wait_for(timeout=120_000)
    assert lab.api("GET", "chat-ext/models/smollm2-135m-instruct")["state"] == "loaded"
    assert page.page_errors == []


def test_collection_from_file_browser_and_citations(page: Any, lab: Any) -> None:
    note = (
        "# Project Falcon\n\nThe launch code of Project Falcon is 7421. "
        "Project Falcon launches rockets from the northern island every spring.\n"
    )
    lab.api("PUT", "api/contents/falcon-notes.md", {"type": "file", "format": "text", "content": note})
    open_lab(page, lab)
    page.locator(".jp-DirListing-content .jp-DirListing-itemText", has_text="falcon-notes.md").click(
        button="right"
    )
    page.locator(".lm-Menu-itemLabel", has_text="Add to Chat Collection").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill("falcon-docs")
    dialog.locator("button", has_text="Add").click()
    page.locator(".jp-toast-message", has_text="falcon-docs: 1 files").wait_for(timeout=120_000)
    collections = lab.api("GET", "chat-ext/collections")["collections"]
    assert [c["name"] for c in collections] == ["falcon-docs"]
    assert collections[0]["documents"] == 1

    open_sidebar(page)
    wait_ready(page)
    switch_tab(page, "Documents")
    page.locator(f"{PANEL} .jp-ChatExt-session", has_text="falcon-docs").wait_for()
    assert "1 documents" in page.locator(f"{PANEL} .jp-ChatExt-session", has_text="falcon-docs").inner_text()
    page.locator(f"{PANEL} .jp-ChatExt-sessionTitle", has_text="falcon-docs").click()  # use it in the chat
    assert page.locator(f"{PANEL} select[aria-label='Retrieval collection']").input_value() == "falcon-docs"
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    send(page, "What is the launch code of Project Falcon?")
    answer = wait_answer(page)
    citation = answer.locator(".jp-ChatExt-citation").first
    assert "falcon-notes.md" in citation.inner_text()
    citation.click()
    page.locator(".jp-MainAreaWidget .jp-FileEditor").wait_for()
    assert page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current").inner_text().strip() == (
        "falcon-notes.md"
    )
    assert page.page_errors == []


def test_commands_shortcuts_and_notebook_context(page: Any, lab: Any) -> None:
    open_lab(page, lab, "lab/tree/demo.ipynb")
    cell = page.locator(".jp-Notebook .jp-Cell").first
    cell.wait_for()
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-editor").click()
    # "Send selection to chat" (Alt+Shift+S): no selection -> the whole cell, fenced, in the composer
    page.keyboard.press("Alt+Shift+S")
    box = page.locator(f"{PANEL} textarea[aria-label='Message']")
    box.wait_for()
    page.wait_for_function(
        f"document.querySelector(\"{PANEL} textarea[aria-label='Message']\").value.includes('x = 1')"
    )
    assert box.input_value().startswith("```python\nx = 1\n```")
    # the box takes focus as soon as it is enabled (the server may still be answering its health check)
    page.wait_for_function(
        "document.activeElement && document.activeElement.getAttribute('aria-label') === 'Message'"
    )
    wait_ready(page)
    box.fill("")

    # "Explain This Cell" from the command palette
    page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt").click()
    # the notebook moves focus to the cell a frame after the click; a palette opened before that
    # loses focus and hides itself, so wait for the cell to hold the focus first
    page.wait_for_function("document.activeElement && document.activeElement.classList.contains('jp-Cell')")
    run_from_palette(page, "Explain This Cell")
    user = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    user.wait_for()
    assert "Explain what this python cell does" in user.inner_text()
    assert "x = 1" in user.inner_text()
    wait_answer(page)

    # include the active cell as context: the question is shown with the context folded
    page.locator(f"{PANEL} select[aria-label='Include notebook context']").select_option("cell")
    send(page, "What is the value of x?")
    wait_answer(page)
    user = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    assert user.locator("summary").inner_text() == "With the active cell (demo.ipynb, cell 1)"
    assert user.locator("pre").text_content().strip() == "```python\nx = 1\n```"
    session_id = page.locator(f"{PANEL} .jp-ChatExt-message-user").last.evaluate(
        "el => el.closest('.jp-ChatExt-message').dataset.messageId"
    )
    assert int(session_id) > 0
    found = lab.api("GET", "chat-ext/sessions?q=value%20of%20x")["sessions"]
    assert len(found) == 1
    stored = lab.api("GET", f"chat-ext/sessions/{found[0]['id']}/messages")["messages"]
    assert "x = 1" in stored[-2]["content"] and stored[-2]["content"].endswith("What is the value of x?")
    assert page.page_errors == []


def test_message_actions_rename_pin_export_import_delete(page: Any, lab: Any, tmp_path: Path) -> None:
    open_lab(page, lab)
    open_sidebar(page)
    wait_ready(page)
    page.locator(f"{PANEL} button[aria-label='New chat']").click()
    send(page, "Name one color.")
    first = wait_answer(page)
    first_id = first.get_attribute("data-message-id")

    # regenerate: a new answer is shown; the first one stays as an earlier version (‹ 2/2 ›)
    first.locator("button[aria-label='Regenerate']").click()
    again = wait_answer(page)
    assert again.get_attribute("data-message-id") != first_id
    assert page.locator(f"{PANEL} .jp-ChatExt-message").count() == 2
    sid = lab.api("GET", "chat-ext/sessions?q=Name%20one%20color")["sessions"][0]["id"]
    assert [m["role"] for m in lab.api("GET", f"chat-ext/sessions/{sid}/messages")["messages"]] == [
        "user",
        "assistant",
        "assistant",
    ]

    # edit and resend the question
    question = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    question.hover()
    question.locator("button[aria-label='Edit and resend']").click()
    question.locator("textarea[aria-label='Edit message']").fill("Name one fruit.")
    question.locator("button", has_text="Save & resend").click()
    wait_answer(page)
    question = page.locator(f"{PANEL} .jp-ChatExt-message-user").last
    assert question.locator(".jp-ChatExt-userText").inner_text().endswith("Name one fruit.")
    stored = lab.api("GET", f"chat-ext/sessions/{sid}/messages")["messages"]
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "complete")]
    assert stored[0]["content"] == "Name one fruit."  # the new branch (the old one is kept: issue 20)

    # delete the answer: it goes at once, the server deletes it once the Undo time is over
    last_answer(page).hover()
    last_answer(page).locator("button[aria-label='Delete message']").click()
    page.wait_for_function(
        f"document.querySelectorAll('{PANEL} .jp-ChatExt-message').length === 1", timeout=10_000
    )
    wait_for(lambda: len(lab.api("GET", f"chat-ext/sessions/{sid}/messages")["messages"]) == 1, 60)

    # rename, pin, export JSON, import it back, delete
    page.locator(f"{PANEL} button[aria-label='Rename chat']").click()
    page.locator(".jp-Dialog input").fill("Fruit chat")
    page.locator(".jp-Dialog button", has_text="Rename").click()
    page.locator(f"{PANEL} .jp-ChatExt-chatTitle", has_text="Fruit chat").wait_for()
    switch_tab(page, "History")
    row = page.locator(f"{PANEL} .jp-ChatExt-session[data-session-id='{sid}']")
    row.hover()
    row.locator("button[aria-label='Pin']").click()
    page.locator(f"{PANEL} .jp-ChatExt-session").first.locator(".jp-ChatExt-pinned").wait_for()
    assert page.locator(f"{PANEL} .jp-ChatExt-session").first.get_attribute("data-session-id") == sid
    assert lab.api("GET", f"chat-ext/sessions/{sid}")["pinned"] is True

    row.hover()
    with page.expect_download() as download:
        row.locator("button[aria-label='Export as JSON']").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".json"
    exported = json.loads(saved.read_text())
    assert exported["session"]["title"] == "Fruit chat"
    # every branch: the first question with its two answers, and its edit
    asked = [m["content"] for m in exported["messages"] if m["role"] == "user"]
    assert asked == ["Name one color.", "Name one fruit."]
    with page.expect_download() as md:
        row.locator("button[aria-label='Export as Markdown']").click()
    assert md.value.suggested_filename.endswith(".md")

    before = lab.api("GET", "chat-ext/sessions")["total"]
    page.locator(f"{PANEL} input[type='file']").set_input_files(str(saved))
    page.locator(f"{PANEL} .jp-ChatExt-message-user", has_text="Name one fruit.").wait_for()
    assert lab.api("GET", "chat-ext/sessions")["total"] == before + 1

    switch_tab(page, "History")
    row = page.locator(f"{PANEL} .jp-ChatExt-session[data-session-id='{sid}']")
    row.hover()
    row.locator("button[aria-label='Delete chat']").click()
    page.locator(".jp-Dialog button", has_text="Delete").click()
    row.wait_for(state="detached")
    assert sid not in [s["id"] for s in lab.api("GET", "chat-ext/sessions")["sessions"]]
    assert page.page_errors == []
