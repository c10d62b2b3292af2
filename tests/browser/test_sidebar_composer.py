"""Issue 20 item 2 in a real JupyterLab + chromium: the message box never collapses to a slit. Its
auto-grow used to run while the panel was still hidden (a reload with the sidebar open and a
notebook active: 4 reloads in 4), measured 0 and left an inline ``height: 0px``."""

from __future__ import annotations

from typing import Any

import pytest
from sidebar import PANEL, open_lab, open_sidebar
from test_sidebar import wait_ready

pytestmark = pytest.mark.browser

BOX = f"{PANEL} textarea[aria-label='Message']"
#: the box's height against one line of its text, and its inline height
MEASURE = """el => {
  const style = getComputedStyle(el);
  const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.2;
  return {height: el.getBoundingClientRect().height, line, inline: el.style.height};
}"""


def test_the_box_keeps_its_height_after_reloads_with_a_notebook_active(page: Any, lab: Any) -> None:
    open_lab(page, lab, "lab/tree/demo.ipynb")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    open_sidebar(page)
    wait_ready(page)
    for _ in range(3):  # the collapse came 4 times in 4: a few reloads make a pass meaningful
        page.reload()
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        open_sidebar(page)  # restored open by the layout restorer; clicked open only if not
        wait_ready(page)
        page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputArea-editor").click()
        # the notebook is the active tab; the box must still be at least one line high
        size = page.locator(BOX).evaluate(MEASURE)
        assert size["inline"] != "0px", size
        assert size["height"] >= size["line"], size
    # and typing still grows it (several lines), as before
    box = page.locator(BOX)
    box.fill("one\ntwo\nthree\nfour\nfive")
    page.wait_for_function(
        f'document.querySelector("{BOX}").getBoundingClientRect().height > 3 * '
        f'(parseFloat(getComputedStyle(document.querySelector("{BOX}")).lineHeight) || 14)',
        timeout=10_000,
    )
    assert page.page_errors == []
