"""kill -9 of a real `jupyter server` mid-pull: after a restart the pull is `interrupted` with `resume`,
and resuming goes on from the bytes on disk: the stand-in Hub sends less than 1.6x the file in all.

The stand-in stalls the body at a seeded point between 25 % and 60 % of the file, so the kill lands
mid-transfer whatever the machine's speed; the server process is then killed with SIGKILL.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from standin_hub import GGUF_FILE, GGUF_REPO, packaged_gguf

sys.path.insert(0, str(Path(__file__).parent.parent / "faults"))

from chatproc import ChatServer

NO_PRELOAD = ("--ChatExtApp.preload_default_model=False",)


def wait_job(server: ChatServer, job_id: str, until: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = server.get(f"jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"the job did not get there in {timeout} s: {job}")


@pytest.mark.timeout(600)
def test_kill_9_mid_pull_then_resume_sends_less_than_1_6x(standin_hub, tmp_path):
    size = packaged_gguf().stat().st_size
    stall_at = int(size * random.Random(18).uniform(0.25, 0.6))
    standin_hub.pause_after(stall_at)
    env = {"HF_ENDPOINT": standin_hub.url, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0", "HF_TOKEN": ""}
    server = ChatServer(tmp_path / "srv", extra=NO_PRELOAD, env=env)
    try:
        server.start()
        assert server.wait_health().status_code == 200
        reply = server.post("models/pull", {"repo": GGUF_REPO, "file": GGUF_FILE})
        assert reply.status_code == 202, reply.text
        job = reply.json()["job"]
        deadline = time.monotonic() + 120
        while standin_hub.bytes_sent < stall_at and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = wait_job(server, job["id"], lambda j: (j.get("bytes_done") or 0) > 0)
        assert seen["state"] == "running", seen
        server.kill9()
        standin_hub.release()

        partial = list((server.data_dir / "hub" / "partial").rglob("*.incomplete"))
        assert len(partial) == 1 and 0 < partial[0].stat().st_size < size
        server.start()
        assert server.wait_health().status_code == 200
        after = server.get(f"jobs/{job['id']}").json()
        assert after["state"] == "interrupted" and after["actions"] == ["resume"], after
        assert after["kind"] == "pull" and after["model_id"] is None
        assert server.get("jobs", params={"kind": "pull"}).json()["jobs"][0]["id"] == job["id"]

        reply = server.post(f"jobs/{job['id']}/resume")
        assert reply.status_code == 202, reply.text
        done = wait_job(server, job["id"], lambda j: j["state"] not in ("queued", "running"))
        assert done["state"] == "done" and done["attempts"] == 2, done
        assert done["bytes_done"] == size
        assert standin_hub.bytes_sent < 1.6 * size, (standin_hub.bytes_sent, size)
        ranged = [r for r in standin_hub.requests if r[0] == "GET" and r[2]]
        assert ranged and ranged[-1][2].startswith("bytes=")  # the resume asked for the rest only
        model = server.get(f"models/{done['model_id']}").json()
        assert model["source"] == "hub" and model["size_bytes"] == size
    finally:
        standin_hub.release()
        server.kill9()
