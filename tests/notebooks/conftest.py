"""Fixtures for the notebook tests: every kernel runs in-process mode over its own data dir."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


@pytest.fixture
def notebook_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for kernels started from this process (papermill / nbval inherit it).

    ``JUPYTER_RUNTIME_DIR`` in tmp keeps the kernels from finding any Jupyter server running on
    the machine; ``JUPYTER_CHAT_EXT_MODE=local`` makes the in-process mode explicit anyway.
    """
    values = {
        "JUPYTER_CHAT_EXT_MODE": "local",
        "JUPYTER_CHAT_EXT_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    for key in ("JUPYTER_CHAT_EXT_URL", "JUPYTER_CHAT_EXT_TOKEN", "MPLBACKEND"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values
