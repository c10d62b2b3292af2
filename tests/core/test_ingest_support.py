"""Helpers (no tests): a generated folder of text files, and a child process that ingests it.

Shared by tests/core/test_ingest_resume.py and bench/bench_rag.py: the child is a real Python
process running ``RagService.start_ingest`` on a data dir; it prints the job's counters as JSON lines
so the parent can SIGKILL it after some batches are committed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

WORDS = [
    "river",
    "mountain",
    "kettle",
    "budget",
    "invoice",
    "harvest",
    "lantern",
    "orbit",
    "copper",
    "meadow",
    "signal",
    "glacier",
    "ledger",
    "violin",
    "pepper",
    "canyon",
    "tractor",
    "mirror",
    "planet",
    "garden",
    "ticket",
    "harbour",
    "engine",
    "thunder",
    "compass",
    "velvet",
    "marble",
    "falcon",
    "pocket",
    "rocket",
    "saddle",
    "timber",
    "walnut",
    "beacon",
    "cactus",
    "dolphin",
]

CHILD = r"""
import json, sys, time
from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.rag.service import RagService
from jupyter_chat_ext.settings import Settings

data_dir, folder, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
rag = RagService(Settings(data_dir=data_dir), Embedder(), batch_chunks=batch)
if "kb" not in [c["name"] for c in rag.list_collections()]:
    rag.create_collection("kb")
job = rag.start_ingest("kb", [folder])
while True:
    job = rag.get_job(job["id"])
    print(json.dumps({k: job[k] for k in ("id", "state", "chunks", "pending", "files_done")}), flush=True)
    if job["state"] not in ("queued", "running"):
        break
    time.sleep(0.01)
rag.close()
"""


def make_corpus(folder: Path, files: int = 60, paragraphs: int = 4, seed: int = 7) -> Path:
    """``files`` text files of ``paragraphs`` paragraphs of ~70 random words (2-3 chunks each)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        paras = [" ".join(rng.choice(WORDS) for _ in range(70)) + "." for _ in range(paragraphs)]
        (folder / f"doc{i:03d}.txt").write_text(f"Document {i}\n\n" + "\n\n".join(paras) + "\n")
    return folder


def start_child(data_dir: Path, folder: Path, batch: int) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(data_dir), str(folder), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def kill_after(child: subprocess.Popen[str], min_chunks: int, timeout_lines: int = 100_000) -> dict:
    """Read the child's job lines; SIGKILL it once ``min_chunks`` are committed. Returns what it saw:
    the job id, the last line, the largest ``pending`` (chunks gathered, not yet committed)."""
    import signal

    seen: dict = {"id": None, "last": None, "max_pending": 0, "killed": False}
    assert child.stdout is not None
    for _ in range(timeout_lines):
        line = child.stdout.readline()
        if not line:
            break
        row = json.loads(line)
        seen["id"], seen["last"] = row["id"], row
        seen["max_pending"] = max(seen["max_pending"], int(row.get("pending") or 0))
        if row["chunks"] >= min_chunks and row["state"] == "running":
            os.kill(child.pid, signal.SIGKILL)
            seen["killed"] = True
            break
    child.wait(timeout=60)
    return seen
