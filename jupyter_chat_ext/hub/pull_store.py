"""Where pulled models live, what they are called, and the manifest that lists them.

Layout under ``Settings.hub_dir`` (default ``<data_dir>/hub``)::

    models/<slug>/            one pulled model: the GGUF file, or a transformers folder
    models/<slug>/pull.json   its manifest, written last (atomically): only a verified pull is listed
    partial/<slug>/<sha>/     bytes being downloaded (``<file>.incomplete``); a resume goes on from them

Model ids: ``owner/name`` (lower case) for a transformers folder, ``owner/name:file-stem`` for one
GGUF file (``bartowski/qwen2.5-coder-1.5b-instruct-gguf:qwen2.5-coder-1.5b-instruct-q4_k_m``; a
split GGUF by the stem of its parts), so the id says where the weights came from and two
quantizations of one repo never collide.
The registry (engine/registry.py) reads the manifests: source ``hub``, extra ``{repo, file, revision}``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path, PurePosixPath
from typing import Any

from .quant import split_part

MANIFEST = "pull.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def pulled_model_id(repo: str, file: str | None) -> str:
    """The id a pull of ``repo`` (and ``file``, for one GGUF) is listed under."""
    if not file:
        return repo.lower()
    name = PurePosixPath(file).name
    split = split_part(name)  # a split GGUF is named by its stem, without "-00001-of-00003"
    stem = (
        split[0] if split is not None else name[: -len(".gguf")] if name.lower().endswith(".gguf") else name
    )
    return f"{repo.lower()}:{stem.lower()}"


def slug(model_id: str) -> str:
    """A folder name for a model id (ids hold ``/`` and ``:``)."""
    return _UNSAFE.sub("_", model_id.replace("/", "--").replace(":", "--"))


def models_dir(hub_dir: Path) -> Path:
    return Path(hub_dir) / "models"


def model_dir(hub_dir: Path, model_id: str) -> Path:
    return models_dir(hub_dir) / slug(model_id)


def partial_dir(hub_dir: Path, model_id: str, revision: str) -> Path:
    return Path(hub_dir) / "partial" / slug(model_id) / _UNSAFE.sub("_", revision)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("model_id"), str) else None


def installed(hub_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(folder, manifest) of every complete pull, by folder name."""
    root = models_dir(hub_dir)
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and not folder.name.startswith("."):
            manifest = read_manifest(folder)
            if manifest is not None:
                found.append((folder, manifest))
    return found


def find_installed(hub_dir: Path, model_id: str) -> dict[str, Any] | None:
    manifest = read_manifest(model_dir(hub_dir, model_id))
    return manifest if manifest is not None and manifest.get("model_id") == model_id else None


def install(staged: Path, hub_dir: Path, manifest: dict[str, Any]) -> Path:
    """Move a staged, verified folder into place with its manifest (replacing an older revision)."""
    target = model_dir(hub_dir, manifest["model_id"])
    target.parent.mkdir(parents=True, exist_ok=True)
    manifest = {**manifest, "pulled_at": time.time()}
    tmp = staged / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, staged / MANIFEST)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def remove(hub_dir: Path, model_id: str) -> bool:
    """Delete a pulled model's files (the manifest first, so a crash never leaves it half-listed)."""
    folder = model_dir(hub_dir, model_id)
    if read_manifest(folder) is None:
        return False
    (folder / MANIFEST).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(Path(hub_dir) / "partial" / slug(model_id), ignore_errors=True)
    return True
