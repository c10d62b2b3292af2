"""Real-browser fixtures: a real `jupyter lab` subprocess and Debian's chromium driven by Playwright.

Kept apart from pytest-jupyter (whose event-loop fixtures would close Playwright's loop): the
server here is a plain subprocess on a free port with its own token, data dir and notebook root;
only the GGUF conversion cache (JUPYTER_CHAT_EXT_MODEL_CACHE) is shared with the other tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
MODEL_CACHE = REPO / ".cache" / "models"
LABEXTENSION = REPO / "jupyter_chat_ext" / "labextension"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: generation settings for the sidebar under test: short, greedy answers from the packaged model
TEST_SETTINGS = {"maxTokens": 24, "temperature": 0, "topP": 1.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabServer:
    url: str  # base url, ends with "/"
    token: str
    root: Path
    data_dir: Path
    log: Path

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        """A JSON request to the server (token auth), e.g. api("GET", "chat-ext/sessions")."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def lab(self, path: str = "lab") -> str:
        return f"{self.url}{path}?token={self.token}"


def _wait_until_up(server: LabServer, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited ({proc.returncode}):\n{server.log.read_text()[-3000:]}")
        try:
            server.api("GET", "api/status", timeout=2)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not answer in {timeout} s:\n{server.log.read_text()[-3000:]}")


def start_lab(
    tmp: Path, *, chat_extension: bool = True, env_extra: dict[str, str] | None = None
) -> tuple[LabServer, subprocess.Popen]:
    if not (LABEXTENSION / "static" / "style.js").exists():
        pytest.fail(f"the labextension is not built ({LABEXTENSION}): run `jlpm install && jlpm build` there")
    root, data, ext_path = tmp / "root", tmp / "data", tmp / "labextensions"
    for d in (root, data, ext_path):
        d.mkdir(parents=True, exist_ok=True)
    # Make this checkout's build visible to JupyterLab whatever is installed in the environment.
    link = ext_path / "jupyter-chat-ext"
    if not link.exists():
        link.symlink_to(LABEXTENSION, target_is_directory=True)
    port, token = free_port(), "browser-test-token"
    env = dict(os.environ)
    env.update(
        JUPYTER_CHAT_EXT_DATA_DIR=str(data),
        JUPYTER_CHAT_EXT_MODEL_CACHE=os.environ.get("JUPYTER_CHAT_EXT_MODEL_CACHE", str(MODEL_CACHE)),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        JUPYTER_CONFIG_DIR=str(tmp / "config"),  # no user config leaks in
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "lab-workspaces"),
    )
    env.update(env_extra or {})  # e.g. a stand-in Hub (HF_ENDPOINT) or a test keyring
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.extra_labextensions_path={ext_path}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if not chat_extension:
        cmd.append('--ServerApp.jpserver_extensions={"jupyter_chat_ext": False}')
    log = tmp / "server.log"
    server = LabServer(f"http://127.0.0.1:{port}/", token, root, data, log)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_up(server, proc)
    except Exception:
        stop_lab(proc)
        raise
    return server, proc


def stop_lab(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A real JupyterLab with the chat extension, a notebook and test settings for the sidebar."""
    tmp = tmp_path_factory.mktemp("lab")
    server, proc = start_lab(tmp)
    try:
        server.api(
            "PUT",
            "lab/api/settings/jupyter-chat-ext:plugin",
            {"raw": json.dumps(TEST_SETTINGS)},
        )
        # no "get notified about Jupyter news?" toast over the composer
        server.api(
            "PUT",
            "lab/api/settings/@jupyterlab/apputils-extension:notification",
            {"raw": json.dumps({"fetchNews": "false"})},
        )
        notebook = {
            "cells": [
                {
                    "cell_type": "code",
                    "metadata": {},
                    "source": "x = 1",
                    "outputs": [],
                    "execution_count": None,
                }
            ],
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                "language_info": {"name": "python"},
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        body = {"type": "notebook", "format": "json", "content": notebook}
        server.api("PUT", "api/contents/demo.ipynb", body)
        yield server
    finally:
        stop_lab(proc)
        if os.environ.get("KEEP_BROWSER_LOGS"):
            ARTIFACTS.mkdir(exist_ok=True)
            shutil.copy(server.log, ARTIFACTS / "lab-server.log")


@pytest.fixture(scope="module")
def fresh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A JupyterLab of its own for one test module: no workspace or settings left by other tests."""
    server, proc = start_lab(tmp_path_factory.mktemp("fresh-lab"))
    try:
        yield server
    finally:
        stop_lab(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium fonts-liberation"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.page_errors = errors  # type: ignore[attr-defined]
    yield pg
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
    context.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
