"""The fuzz tests share the real-server helper of the fault tests (tests/faults/chatproc.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "faults"))

from chatproc import ChatServer


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory):
    """One real server (no model preloaded) for the document and seed tests of this folder."""
    with ChatServer(
        tmp_path_factory.mktemp("openapi"), extra=("--ChatExtApp.preload_default_model=False",)
    ) as srv:
        yield srv.start()
