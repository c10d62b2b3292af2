"""kill -9 during an ingest job: after a restart the job resumes and ends with a clean run's chunks.

Ingest commits in small batches and persists its job record, so a crash loses at most the batch in
flight; the resumed job skips committed files (by hash), so no chunk is duplicated.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from chatproc import ChatServer

NO_PRELOAD = ("--ChatExtApp.preload_default_model=False",)
WORDS = [
    "lighthouse",
    "storm",
    "harbor",
    "keeper",
    "lantern",
    "tide",
    "rock",
    "gull",
    "rope",
    "boat",
    "cliff",
    "wave",
    "north",
    "wind",
    "salt",
    "shore",
    "night",
    "signal",
    "beacon",
    "fog",
    "island",
    "ship",
    "sail",
    "anchor",
    "compass",
    "chart",
    "voyage",
    "current",
    "reef",
]


def write_corpus(folder: Path, files: int, seed: int) -> None:
    """Markdown files of a few sections each (several chunks per file)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(files):
        sections = []
        for s in range(4):
            para = " ".join(rng.choice(WORDS) for _ in range(rng.randint(120, 220)))
            sections.append(f"## Part {s}\n\n{para}.\n")
        (folder / f"doc-{i:03d}.md").write_text(f"# Document {i}\n\n" + "\n".join(sections))


def ingest(server: ChatServer, collection: str, paths: list[str]) -> dict[str, Any]:
    assert server.post("collections", {"name": collection}).status_code == 201
    reply = server.post(f"collections/{collection}/documents", {"paths": paths})
    assert reply.status_code == 202, reply.text
    return reply.json()


def wait_job(server: ChatServer, job_id: str, until: Any, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = server.get(f"jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job did not get there in {timeout} s: {job}")


@pytest.mark.timeout(900)
def test_kill_9_mid_ingest_resumes_to_the_same_chunk_count(servers, tmp_path):
    root = tmp_path / "srv"
    write_corpus(root / "docs", files=120, seed=11)
    server = servers.new(root, extra=NO_PRELOAD).start()
    assert server.wait_health().status_code == 200

    job = ingest(server, "crashed", ["docs"])
    total = 120
    # kill once part of the folder is committed (a seeded point between 20 % and 50 %)
    kill_at = int(total * random.Random(3).uniform(0.2, 0.5))
    seen = wait_job(
        server, job["id"], lambda j: (j.get("files_done") or 0) >= kill_at or j["state"] == "done"
    )
    assert seen["state"] != "done", "the ingest finished before the kill; make the corpus larger"
    server.kill9()

    server.start()
    assert server.wait_health().status_code == 200
    after = server.get(f"jobs/{job['id']}").json()
    assert after["state"] in ("interrupted", "queued", "running"), after
    committed = server.get("collections/crashed").json()
    assert (committed.get("chunks") or 0) > 0, "nothing committed before the crash"
    if after["state"] == "interrupted":
        reply = server.post(f"jobs/{job['id']}/resume")
        assert reply.status_code in (200, 202), reply.text
    resumed = wait_job(server, job["id"], lambda j: j["state"] in ("done", "failed"))
    assert resumed["state"] == "done", resumed

    clean = ingest(server, "clean", ["docs"])
    clean_done = wait_job(server, clean["id"], lambda j: j["state"] in ("done", "failed"))
    assert clean_done["state"] == "done", clean_done
    crashed_info = server.get("collections/crashed").json()
    clean_info = server.get("collections/clean").json()
    assert crashed_info["chunks"] == clean_info["chunks"], (crashed_info, clean_info)
    assert crashed_info.get("documents") == clean_info.get("documents")
    # a search finds each document once (no duplicated chunks from the redone batch)
    hits = server.get("collections/crashed/search", params={"q": "lighthouse keeper", "k": 20}).json()
    ids = [h.get("chunk_id") for h in hits["results"]]
    assert len(ids) == len(set(ids))
