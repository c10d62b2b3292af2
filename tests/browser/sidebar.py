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


def run_from_palette(page: Any, label: str, attempts: int = 5) -> None:
    """Run the command ``label`` from JupyterLab's command palette (Ctrl+Shift+C, type, Enter).

    JupyterLab's modal palette hides itself on blur and whenever any command runs while it is open,
    so a late focus move or a command run by the lab right after the shortcut closes it again (seen
    on a loaded 2-core CI runner: the palette never showed within 30 s after one press). Each try
    opens it anew, by the shortcut or by View > Activate Command Palette in turn, and gives it a
    few seconds to show and to list the command.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    palette = page.locator(".lm-CommandPalette-input")
    item = page.locator(".lm-CommandPalette-item.lm-mod-active", has_text=label)
    for attempt in range(attempts):
        try:
            if attempt % 2 == 0:
                page.keyboard.press("Control+Shift+C")
            else:
                page.keyboard.press("Escape")
                page.locator(".lm-MenuBar-item", has_text="View").click(timeout=5_000)
                page.locator(".lm-Menu-item[data-command='apputils:activate-command-palette']").click(
                    timeout=5_000
                )
            palette.wait_for(state="visible", timeout=5_000)
            palette.fill(label, timeout=5_000)
            item.wait_for(timeout=5_000)
        except PlaywrightTimeout:
            continue
        palette.press("Enter")
        return
    raise AssertionError(f"the command palette did not open and list {label!r} in {attempts} tries")
