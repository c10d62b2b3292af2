"""Page helpers for the chat sidebar (Playwright sync API)."""

from __future__ import annotations

from typing import Any

PANEL = "#jupyter-chat-ext-panel"


def open_lab(page: Any, lab: Any, path: str = "lab") -> None:
    page.goto(lab.lab(path))
    page.wait_for_selector("#jp-main-dock-panel", state="attached", timeout=60_000)
    page.wait_for_selector(".jp-SideBar.jp-mod-right", timeout=60_000)


def open_sidebar(page: Any) -> Any:
    """Show the chat sidebar (the layout restorer may already be opening it after a reload)."""
    tab = page.locator('.jp-SideBar.jp-mod-right [data-id="jupyter-chat-ext-panel"]')
    tab.wait_for()
    page.wait_for_selector("#main.lm-Widget, #jp-main-content-panel", state="attached")
    page.wait_for_timeout(500)  # let the restored layout settle before toggling anything
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    panel = page.locator(PANEL)
    panel.wait_for(state="visible")
    return panel


def switch_tab(page: Any, name: str) -> None:
    page.locator(f'{PANEL} [role="tab"]', has_text=name).click()


def send(page: Any, text: str) -> None:
    box = page.locator(f"{PANEL} textarea[aria-label='Message']")
    box.fill(text)
    box.press("Enter")


def last_answer(page: Any) -> Any:
    return page.locator(f"{PANEL} .jp-ChatExt-message-assistant").last


def open_session(page: Any, session_id: str) -> None:
    page.locator(
        f"{PANEL} .jp-ChatExt-session[data-session-id='{session_id}'] .jp-ChatExt-sessionTitle"
    ).click()
