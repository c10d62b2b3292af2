"""Model pull: throughput through our route vs huggingface_hub alone, and Jupyter's latency meanwhile.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_pull.py [--quick] [--runs 5]

Both sides read the packaged GGUF (98 MB) from the stand-in Hub (tests/hub/standin_hub.py, a real
HTTP server on 127.0.0.1, in this process):

- ``hf_hub_download``: ``huggingface_hub.hf_hub_download(..., force_download=True)`` into a fresh
  cache dir, in a process of its own, timed from the call to its return (it checks no checksum).
- ``route``: ``POST /chat-ext/models/pull`` on a real ``jupyter server`` process, timed from the POST
  to the job's ``done`` (polled every 20 ms): planning requests, download, sha256, install, listing.
  The model is deleted between runs (DELETE /chat-ext/models/{id}).
- ``status_p99_ms``: ``GET /api/status`` latency, one request after another, during further route
  pulls (separate runs, so the poller's load is in neither throughput figure).

Throughput runs alternate (route, hf, route, hf, ...) so a noisy neighbour hits both; medians.
Goals (issue 18): route >= 0.95x hf_hub_download; /api/status p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "faults"))
sys.path.insert(0, str(REPO / "tests" / "hub"))

from chatproc import ChatServer  # noqa: E402
from standin_hub import GGUF_FILE, GGUF_REPO, StandinHub, packaged_gguf  # noqa: E402

NO_PRELOAD = ("--ChatExtApp.preload_default_model=False",)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def poll_status(server: ChatServer, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(headers=server.headers, timeout=60) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            client.get(f"{server.base}/api/status")
            out.append(time.perf_counter() - t0)
            time.sleep(0.02)


#: hf_hub_download in a process of its own, as the route's server is: in this process it would share
#: the GIL with the stand-in's server threads
HF_ALONE = """
import sys, time
from huggingface_hub import hf_hub_download
url, repo, name, cache = sys.argv[1:5]
t0 = time.perf_counter()
hf_hub_download(repo, name, endpoint=url, cache_dir=cache, token=False, force_download=True)
print(time.perf_counter() - t0)
"""


def hf_alone(hub: StandinHub, work: Path) -> float:
    cache = Path(tempfile.mkdtemp(dir=work, prefix="hf-cache-"))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HOME": str(work / "hf-home"),
    }
    out = subprocess.run(
        [sys.executable, "-c", HF_ALONE, hub.url, GGUF_REPO, GGUF_FILE, str(cache)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    shutil.rmtree(cache, ignore_errors=True)
    return float(out.stdout.strip().splitlines()[-1])


def route(server: ChatServer) -> tuple[float, dict[str, Any]]:
    t0 = time.perf_counter()
    reply = server.post("models/pull", {"repo": GGUF_REPO, "file": GGUF_FILE})
    assert reply.status_code == 202, reply.text
    job_id = reply.json()["job"]["id"]
    with httpx.Client(headers=server.headers, timeout=60) as client:
        while True:
            job = client.get(server.url(f"jobs/{job_id}")).json()
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.02)
    elapsed = time.perf_counter() - t0
    assert job["state"] == "done", job
    assert (
        httpx.delete(server.url(f"models/{job['model_id']}"), headers=server.headers, timeout=60).status_code
        == 200
    )
    return elapsed, job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs each (make bench)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    size = packaged_gguf().stat().st_size
    work = Path(tempfile.mkdtemp(prefix="bench-pull-"))
    with StandinHub() as hub:
        hub.add_packaged()
        env = {
            "HF_ENDPOINT": hub.url,
            "HF_HUB_OFFLINE": "0",
            "TRANSFORMERS_OFFLINE": "0",
            "HF_HOME": str(work / "hf-home"),
        }
        server = ChatServer(work / "srv", extra=NO_PRELOAD, env=env)
        try:
            server.start()
            assert server.wait_health().status_code == 200
            hf_alone(hub, work)  # warm both paths once (imports, page cache of the file)
            route(server)
            ours: list[float] = []
            theirs: list[float] = []
            latencies: list[float] = []
            stop = threading.Event()
            for _ in range(runs):
                elapsed, job = route(server)
                ours.append(elapsed)
                theirs.append(hf_alone(hub, work))
            for _ in range(runs):
                stop.clear()
                poller = threading.Thread(target=poll_status, args=(server, stop, latencies))
                poller.start()
                route(server)
                stop.set()
                poller.join()
            # the same poll with no pull running, for as long: what the machine gives anyway
            idle: list[float] = []
            stop.clear()
            poller = threading.Thread(target=poll_status, args=(server, stop, idle))
            poller.start()
            time.sleep(sum(ours))
            stop.set()
            poller.join()
        finally:
            server.kill9()
    route_mb_s = size / statistics.median(ours) / 1e6
    hf_mb_s = size / statistics.median(theirs) / 1e6
    out = {
        "bench": "pull",
        "file_bytes": size,
        "runs": runs,
        "route_s": [round(t, 3) for t in ours],
        "hf_hub_download_s": [round(t, 3) for t in theirs],
        "route_mb_s": round(route_mb_s, 1),
        "hf_hub_download_mb_s": round(hf_mb_s, 1),
        "ratio": round(route_mb_s / hf_mb_s, 3),
        "goal_ratio": 0.95,
        "status_p50_ms": pct(latencies, 0.5),
        "status_p99_ms": pct(latencies, 0.99),
        "status_samples": len(latencies),
        "status_idle_p50_ms": pct(idle, 0.5),
        "status_idle_p99_ms": pct(idle, 0.99),
        "goal_status_p99_ms": 100,
        "last_job_rate_b_s": job.get("rate"),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
