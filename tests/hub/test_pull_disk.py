"""The disk fills up in the middle of a pull: the job fails `storage_full` (resumable), not a network error.

A 24 MB tmpfs holds hub_dir (root only: skipped with the reason elsewhere). The pull passes the up-front
check, the stand-in stalls the body after 4 MB, a filler file takes the rest of the disk, and the
transfer goes on into ENOSPC. Freed again, the same job resumes to done from the bytes it kept.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standin_hub import packaged_gguf

from jupyter_chat_ext.core import build_core
from jupyter_chat_ext.hub.pull_jobs import start_pull
from jupyter_chat_ext.settings import Settings

MB = 1024 * 1024


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "tiny-disk"
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(path)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root): {proc.stderr.strip()}")
    yield path
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_a_full_disk_mid_pull_fails_storage_full_and_resumes(standin_hub, tiny_disk, tmp_path) -> None:
    head = packaged_gguf().read_bytes()[: 16 * MB]  # a real GGUF header, so the registry lists it
    standin_hub.add_repo("standin/sixteen-GGUF", {"m.gguf": head}, tags=["gguf"])
    settings = Settings(data_dir=tmp_path / "data", hub_dir=tiny_disk / "hub", hub_reserve_bytes=0)
    core = build_core(settings)
    try:
        standin_hub.pause_after(4 * MB)
        job, _ = start_pull(settings, core.jobs, "standin/sixteen-GGUF", "m.gguf")
        deadline = time.monotonic() + 60
        while standin_hub.bytes_sent < 4 * MB and time.monotonic() < deadline:
            time.sleep(0.05)
        filler = tiny_disk / "filler"
        with filler.open("wb") as f:  # take what is left of the disk
            try:
                while True:
                    f.write(b"\0" * MB)
                    f.flush()
            except OSError:
                pass
        standin_hub.release()
        failed = core.jobs.wait(job["id"], timeout=120)
        assert failed["state"] == "failed" and failed["error"]["code"] == "storage_full", failed
        assert failed["actions"] == ["resume"]

        filler.unlink()
        core.jobs.resume(job["id"])
        done = core.jobs.wait(job["id"], timeout=120)
        assert done["state"] == "done" and done["bytes_done"] == 16 * MB, (done["error"], done)
        assert standin_hub.bytes_sent < 1.6 * 16 * MB  # the bytes kept on disk were not fetched again
    finally:
        standin_hub.release()
        core.close()
