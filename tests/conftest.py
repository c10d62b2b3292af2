"""Shared fixtures: real settings in temp dirs, one model-conversion cache for the whole run.

The GGUF -> transformers conversion of the packaged model takes ~17 s; it is cached in
``JUPYTER_CHAT_EXT_MODEL_CACHE`` (default: ``<repo>/.cache/models``) so a test run pays it once and
later runs not at all. Everything else (DuckDB, LanceDB, data dirs) lives in pytest's tmp dirs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("JUPYTER_CHAT_EXT_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def settings(tmp_path: Path):
    from jupyter_chat_ext.settings import Settings

    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def shared_settings(tmp_path_factory: pytest.TempPathFactory):
    from jupyter_chat_ext.settings import Settings

    return Settings(data_dir=tmp_path_factory.mktemp("shared-data"))


@pytest.fixture(scope="session")
def engine(shared_settings) -> Iterator:
    """One real engine with the packaged default model loaded, shared by the whole run."""
    from jupyter_chat_ext.engine.engine import Engine

    eng = Engine(shared_settings)
    eng.load(shared_settings.default_model)
    yield eng
    eng.close()


@pytest.fixture
def store(settings) -> Iterator:
    from jupyter_chat_ext.store.store import Store

    st = Store(settings.db_path)
    yield st
    st.close()


@pytest.fixture
def chat_service(settings, engine) -> Iterator:
    """A ChatService over a fresh DuckDB file and the shared, already-loaded engine."""
    from jupyter_chat_ext.chat.service import ChatService
    from jupyter_chat_ext.store.store import Store

    st = Store(settings.db_path)
    svc = ChatService(st, engine, settings)
    yield svc
    svc.close(close_engine=False)


@pytest.fixture
def rag_chat_service(settings, engine) -> Iterator:
    """A ChatService with a real RagService (LanceDB in a tmp dir, the packaged embedder)."""
    from jupyter_chat_ext.chat.service import ChatService
    from jupyter_chat_ext.rag.service import RagService
    from jupyter_chat_ext.store.store import Store

    st = Store(settings.db_path)
    rag = RagService(settings, engine.embedder)
    svc = ChatService(st, engine, settings, rag=rag)
    yield svc
    svc.close(close_engine=False)
