"""Model pull: throughput through our route vs huggingface_hub alone, and Jupyter's latency meanwhile.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_pull.py [--quick] [--runs 5]

Both sides read the packaged GGUF (98 MB) from the stand-in Hub (tests/hub/standin_hub.py, a real
HTTP server on 127.0.0.1, in this process):

- ``hf_hub_download``: ``huggingface_hub.hf_hub_download(..., force_download=True)`` into a fresh
  cache dir, timed from the call to its return (no checksum of its own).
- ``route``: ``POST /chat-ext/models/pull`` on a real ``jupyter server`` process, timed from the POST
  to the job's ``done`` (polled every 50 ms): planning requests, download, sha256, install, listing.
  The model is deleted between runs (DELETE /chat-ext/models/{id}).
- ``status_p99_ms``: ``GET /api/status`` latency, one request after another, while the pulls run.

Runs alternate (route, hf, route, hf, ...) so a noisy neighbour hits both; medians are reported.
Goals (issue 18): route >= 0.95x hf_hub_download; /api/status p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
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


def hf_alone(hub: StandinHub, work: Path) -> float:
    from huggingface_hub import hf_hub_download

    cache = Path(tempfile.mkdtemp(dir=work, prefix="hf-cache-"))
    t0 = time.perf_counter()
    hf_hub_download(GGUF_REPO, GGUF_FILE, endpoint=hub.url, cache_dir=cache, token=False, force_download=True)
    return time.perf_counter() - t0


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
            time.sleep(0.05)
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
    import huggingface_hub.constants as hf_constants

    hf_constants.HF_HUB_OFFLINE = (
        False  # `make bench` sets HF_HUB_OFFLINE=1; this process talks to 127.0.0.1 only
    )
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
                stop.clear()
                poller = threading.Thread(target=poll_status, args=(server, stop, latencies))
                poller.start()
                elapsed, job = route(server)
                stop.set()
                poller.join()
                ours.append(elapsed)
                theirs.append(hf_alone(hub, work))
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
        "goal_status_p99_ms": 100,
        "last_job_rate_b_s": job.get("rate"),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
