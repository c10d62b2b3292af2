"""Which Hub files are already pulled (the registry's ``source: "hub"`` models), and where pulls go."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .roles import model_field


def pulled_dir(settings: Any) -> Path:
    """Where pulled models are stored (the disk whose free space the hardware profile reports)."""
    value = getattr(settings, "hub_dir", None)  # hub/pull_store.py's layout
    return Path(value) if value else Path(settings.data_dir) / "hub"


def installed_lookup(models: list[Any]) -> Callable[[str, str | None], str | None]:
    """``lookup(repo, file)`` -> the registry id of the pulled model of that file (None: not pulled).

    A whole-folder pull has ``file`` None; repo ids compare case-insensitively as on the Hub.
    """
    index: dict[tuple[str, str | None], str] = {}
    for m in models:
        if model_field(m, "source") != "hub":
            continue
        repo = model_field(m, "repo")
        if not repo:
            continue
        file = model_field(m, "file")
        index[(str(repo).lower(), str(file) if file else None)] = str(model_field(m, "id"))

    def lookup(repo: str, file: str | None) -> str | None:
        return index.get((repo.lower(), file or None))

    return lookup
