"""ChatWidget in a real browser: a real ``jupyter lab``, a notebook, Playwright + Debian's chromium.

The fixture lives in this file (tests/browser/conftest.py belongs to the sidebar tests). The kernel
that JupyterLab starts finds the server through the runtime files (no URL in its environment), so
this also checks server discovery end to end: the answer typed into the widget is stored by the
server and visible through its HTTP API.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nbformat
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "root"
        self.root.mkdir()
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        env = dict(os.environ)
        for key in ("JUPYTER_CHAT_EXT_URL", "JUPYTER_CHAT_EXT_TOKEN", "JUPYTER_CHAT_EXT_MODE"):
            env.pop(key, None)
        env.update(
            JUPYTER_CHAT_EXT_DATA_DIR=str(tmp / "data"),
            JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
            JUPYTER_CHAT_EXT_MODEL_CACHE=os.environ.get(
                "JUPYTER_CHAT_EXT_MODEL_CACHE", str(REPO / ".cache" / "models")
            ),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        self.log_path = tmp / "lab.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyterlab",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                "--no-browser",
                "--allow-root",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                "--LabApp.news_url=",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            env=env,
            cwd=str(self.root),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def wait_ready(self, timeout: float = 240.0) -> None:
        """Until the chat extension answers and the default model is loaded."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text()[-3000:])
            try:
                r = httpx.get(
                    self.url + "chat-ext/models/smollm2-135m-instruct", headers=self.headers, timeout=10
                )
                if r.status_code == 200 and r.json().get("state") == "loaded":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(self.log_path.read_text()[-3000:])

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    server = Lab(tmp_path_factory.mktemp("lab"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(lab: Lab) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        try:
            yield pg
        finally:
            context.close()
            browser.close()


def write_notebook(path: Path, cells: list[str]) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nbformat.write(nb, path)


def open_and_run_all(page, lab: Lab, name: str) -> None:
    page.goto(f"{lab.url}lab/tree/{name}?token={lab.token}")
    page.locator(".jp-NotebookPanel").first.wait_for()
    # a "Select Kernel" dialog may come up: accept the default kernel
    try:
        page.locator(".jp-Dialog").wait_for(timeout=3000)
        page.locator(".jp-Dialog .jp-mod-accept").click()
    except Exception:
        pass
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


def test_chat_widget_answers_in_the_browser(lab: Lab, page) -> None:
    write_notebook(
        lab.root / "chat.ipynb",
        [
            "%load_ext jupyter_chat_ext\n%chat status",
            "from jupyter_chat_ext.widgets import ChatWidget\nw = ChatWidget(max_tokens=16)\nw",
        ],
    )
    open_and_run_all(page, lab, "chat.ipynb")
    # the kernel found the server by itself (runtime files), not the in-process fallback
    page.get_by_text("mode: server").wait_for(timeout=120_000)
    chat = page.locator(".jce-chat")
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
    sessions = httpx.get(lab.url + "chat-ext/sessions", headers=lab.headers, timeout=30).json()["sessions"]
    found = []
    for s in sessions:
        msgs = httpx.get(lab.url + f"chat-ext/sessions/{s['id']}/messages", headers=lab.headers, timeout=30)
        found += [m["content"] for m in msgs.json()["messages"] if m["role"] == "assistant"]
    assert text in found
    # the session picker lists the new session
    options = chat.locator("select option")
    assert options.count() >= 2
