"""Fixtures for the server extension tests: a real Jupyter server (pytest-jupyter) with the extension.

pytest-jupyter's fixtures are imported here rather than named in ``pytest_plugins``: pytest refuses
``pytest_plugins`` outside the top-level conftest, and a star import keeps the plugin (its fixtures
and its event-loop hooks) scoped to this folder. Tests are plain functions decorated with
``server_testlib.on_jp_loop`` so that they run on pytest-jupyter's loop, not pytest-asyncio's.
"""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403
from server_testlib import Api
from traitlets.config import Config


def chat_ext_config(tmp_path: Path, **overrides: object) -> Config:
    settings = {"data_dir": str(tmp_path / "chat-data"), "preload_default_model": False}
    settings.update(overrides)
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"jupyter_chat_ext": True}},
            "ChatExtApp": settings,
        }
    )


@pytest.fixture
def chat_ext_overrides() -> dict[str, object]:
    """Override in a test module to change ChatExtApp settings."""
    return {}


@pytest.fixture
def jp_server_config(tmp_path: Path, chat_ext_overrides: dict[str, object]) -> Config:
    return chat_ext_config(tmp_path, **chat_ext_overrides)


@pytest.fixture
def chat_app(jp_serverapp):
    """The ChatExtApp instance loaded by the server."""
    return jp_serverapp.extension_manager.extension_points["jupyter_chat_ext"].app


@pytest.fixture
def api(jp_fetch, jp_serverapp) -> Api:
    return Api(jp_fetch, token=jp_serverapp.identity_provider.token)


@pytest.fixture
def base(jp_http_port, jp_base_url) -> str:
    """The extension's URL prefix on the test server."""
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}chat-ext"


@pytest.fixture
def client(jp_serverapp, http_server, base) -> openai.AsyncOpenAI:
    """The official ``openai`` client against our ``/v1`` routes, with the server's token."""
    token = jp_serverapp.identity_provider.token
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=token, max_retries=0, timeout=120)
