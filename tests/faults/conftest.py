"""Fixtures for the fault tests: real `jupyter server` processes (tests/faults/chatproc.py).

Every test here starts its own server(s) on a free port with a token and a tmp data dir, breaks
something on purpose (SIGKILL, a full or read-only disk, a corrupt file, a second server) and then
asserts what was kept. They take a few seconds to a minute each; iterations are seeded.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from chatproc import Fleet


@pytest.fixture
def servers() -> Iterator[Fleet]:
    """``servers.new(root, ...)`` makes a server; every one is killed when the test ends."""
    fleet = Fleet()
    yield fleet
    fleet.kill_all()


def mount(*args: str) -> tuple[bool, str]:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    return proc.returncode == 0, proc.stderr.strip()


def umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs to fill up (root only: skipped with the reason elsewhere)."""
    path = tmp_path / "tiny-disk"
    path.mkdir()
    ok, err = mount("-t", "tmpfs", "-o", "size=24m", "tmpfs", str(path))
    if not ok:
        pytest.skip(f"cannot mount a small tmpfs to simulate a full disk (needs root): {err}")
    yield path
    umount(path)


@pytest.fixture
def read_only_bind(tmp_path: Path):
    """make_read_only(dir): bind-mount a folder onto itself read-only (root only, else skip)."""
    mounted: list[Path] = []

    def make_read_only(path: Path) -> None:
        ok, err = mount("--bind", str(path), str(path))
        if ok:
            mounted.append(path)
            ok, err = mount("-o", "remount,ro,bind", str(path))
        if not ok:
            pytest.skip(f"cannot bind-mount a read-only data dir (needs root): {err}")

    def make_writable(path: Path) -> None:
        if path in mounted:
            umount(path)
            mounted.remove(path)

    yield make_read_only, make_writable
    for path in mounted:
        umount(path)
