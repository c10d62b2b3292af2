"""Fixtures for the model-hub tests: a stand-in Hub on 127.0.0.1 (tests/hub/standin_hub.py).

``make test`` runs pytest with ``HF_HUB_OFFLINE=1``, and ``huggingface_hub`` reads that flag (and
``HF_ENDPOINT``) once, at import. The ``standin_hub`` fixture therefore points ``HF_ENDPOINT`` at the
stand-in, unsets the offline flags for this test only, and also resets the copy of the flag that
``huggingface_hub.constants`` took at import (monkeypatch restores all of it afterwards). Our pull code
reads ``HF_ENDPOINT`` / ``HF_HUB_OFFLINE`` / ``HF_TOKEN`` from the environment per call and passes
``endpoint=`` explicitly, so nothing here depends on import order.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from standin_hub import StandinHub


def point_at(hub: StandinHub, monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """This test talks to ``hub`` (online, no token, HF_HOME in ``home``), all restored when it ends."""
    import huggingface_hub.constants as hf_constants

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    # A token file in the user's HF_HOME must not leak into these tests.
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))


@pytest.fixture
def standin_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StandinHub]:
    """A running stand-in Hub with the packaged repos; HF_ENDPOINT points at it for this test."""
    with StandinHub() as hub:
        hub.add_packaged()
        point_at(hub, monkeypatch, tmp_path / "hf-home")
        yield hub


# -- a real Jupyter server (pytest-jupyter), as in tests/server/conftest.py -------------------------
from pytest_jupyter.jupyter_server import *  # noqa: E402, F403
from traitlets.config import Config  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))

from server_testlib import Api  # noqa: E402


@pytest.fixture
def chat_ext_overrides() -> dict[str, object]:
    """Override in a test module to change ChatExtApp settings."""
    return {}


@pytest.fixture
def jp_server_config(tmp_path: Path, chat_ext_overrides: dict[str, object]) -> Config:
    settings = {"data_dir": str(tmp_path / "chat-data"), "preload_default_model": False, **chat_ext_overrides}
    return Config({"ServerApp": {"jpserver_extensions": {"jupyter_chat_ext": True}}, "ChatExtApp": settings})


@pytest.fixture
def chat_app(jp_serverapp):
    return jp_serverapp.extension_manager.extension_points["jupyter_chat_ext"].app


@pytest.fixture
def api(jp_fetch, jp_serverapp) -> Api:
    return Api(jp_fetch, token=jp_serverapp.identity_provider.token)
