"""Faults and load, measured on real `jupyter server` processes; prints one JSON object.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_faults.py [--quick] [--kills 20]

- ``kill9_stream``: kill -9 while an answer streams (N times, one data dir, a restart each time):
  completed messages lost, partial kept, stored chars vs the text the client saw 1 s before the kill.
- ``checkpoint_cost``: single-stream tok/s through ChatService with checkpoints every 1 s vs never
  (``Turns.checkpoint_interval``), alternated, median of the runs; the cost in percent.
- ``kill9_ingest``: a crash in the middle of an ingest job, resumed: chunks vs a clean run, texts
  embedded again (work redone) vs the batch size.
- ``burst``: 50 chats at once on a small queue: statuses, rows written for refused requests,
  Jupyter /api/status latency (p50/p99) while the burst runs.
- ``slow_sql``: /api/status and /chat-ext/health latency while a long SQL query runs.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "faults"))

from chatproc import SMALL, ChatServer, TurnStream, stream_chat  # noqa: E402
from test_crash_ingest import ingest, wait_job, write_corpus  # noqa: E402
from test_crash_stream import LONG, PROMPTS  # noqa: E402

SLOW_SQL = "SELECT count(*) FROM range(100000000000) t(i) WHERE i % 7 = 3"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def poll_status(server: ChatServer, stop: threading.Event, path: str = "/api/status") -> list[float]:
    """Latencies (s) of GET path until ``stop`` is set, one request after another."""
    times: list[float] = []
    with httpx.Client(headers=server.headers, timeout=60) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            client.get(f"{server.base}{path}")
            times.append(time.perf_counter() - t0)
            time.sleep(0.02)
    return times


def kill9_stream(root: Path, kills: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    server = ChatServer(root, extra=("--ChatExtApp.preload_default_model=True",))
    rows: list[dict[str, Any]] = []
    completed_lost = 0
    try:
        server.start()
        server.wait_model()
        session = server.new_session(title="kills")
        for _i in range(kills):
            before = [m for m in server.messages(session) if m["status"] == "complete"]
            out = TurnStream()
            reader = threading.Thread(
                target=stream_chat, args=(server, session, rng.choice(PROMPTS), LONG), kwargs={"out": out}
            )
            reader.start()
            while not out.tokens and reader.is_alive():
                time.sleep(0.01)
            time.sleep(rng.uniform(1.2, 3.0))
            killed = time.monotonic()
            server.kill9()
            reader.join(timeout=30)
            started = time.monotonic()
            server.start()
            server.wait_health()
            restart_s = time.monotonic() - started
            after = {m["id"]: m for m in server.messages(session)}
            completed_lost += sum(1 for m in before if after.get(m["id"], {}).get("content") != m["content"])
            answer = max((m for m in after.values() if m["role"] == "assistant"), key=lambda m: m["id"])
            floor = out.text_before(killed - 1.0)
            rows.append(
                {
                    "finished_before_kill": out.event("done") is not None,
                    "status": answer["status"],
                    "streamed_chars": len(out.text),
                    "streamed_chars_1s_before": len(floor),
                    "kept_chars": len(answer["content"]),
                    "kept_ge_1s_before": answer["content"].startswith(floor),
                    "restart_s": round(restart_s, 2),
                }
            )
    finally:
        server.kill9()
    mid = [r for r in rows if not r["finished_before_kill"]]
    return {
        "kills": kills,
        "mid_stream": len(mid),
        "completed_messages_lost": completed_lost,
        "partial_kept_ge_1s_before": sum(r["kept_ge_1s_before"] for r in mid),
        "interrupted_rows": sum(r["status"] == "interrupted" for r in mid),
        "kept_chars_total": sum(r["kept_chars"] for r in mid),
        "streamed_chars_1s_before_total": sum(r["streamed_chars_1s_before"] for r in mid),
        "streamed_chars_total": sum(r["streamed_chars"] for r in mid),
        "restart_s_median": round(statistics.median(r["restart_s"] for r in rows), 2) if rows else None,
        "runs": rows,
    }


def checkpoint_cost(tmp: Path, reps: int) -> dict[str, Any]:
    """tok/s of one stream at a time through ChatService, checkpointing every 1 s vs never."""
    import asyncio

    from jupyter_chat_ext.chat.service import ChatService
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.settings import Settings
    from jupyter_chat_ext.store.store import Store

    settings = Settings(data_dir=tmp)
    engine = Engine(settings)
    engine.load(settings.default_model)
    chat = ChatService(Store(settings.db_path), engine, settings)
    params = {"max_tokens": 256, "temperature": 0.8, "seed": 5}

    async def one(interval: float) -> float:
        chat.turns.checkpoint_interval = interval
        session = chat.create_session()
        t0 = tokens = 0.0
        async for event in chat.chat(session["id"], PROMPTS[0], params):
            if event["type"] == "token":
                tokens += 1
                t0 = t0 or time.perf_counter()
        return (tokens - 1) / (time.perf_counter() - t0) if tokens > 1 else 0.0

    async def run() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"every_1s": [], "never": []}
        await one(1.0)  # warm-up
        for _ in range(reps):
            out["every_1s"].append(await one(1.0))
            out["never"].append(await one(1e9))
        return out

    try:
        got = asyncio.run(run())
    finally:
        chat.close()
    on, off = statistics.median(got["every_1s"]), statistics.median(got["never"])
    return {
        "tok_s_checkpoint_every_1s": round(on, 2),
        "tok_s_no_checkpoint": round(off, 2),
        "cost_pct": round(100 * (off - on) / off, 2) if off else None,
        "runs": {k: [round(v, 2) for v in vals] for k, vals in got.items()},
    }


def kill9_ingest(root: Path, files: int) -> dict[str, Any]:
    write_corpus(root / "docs", files=files, seed=11)
    server = ChatServer(root, extra=("--ChatExtApp.preload_default_model=False",))
    try:
        server.start()
        server.wait_health()
        job = ingest(server, "crashed", ["docs"])
        seen = wait_job(
            server, job["id"], lambda j: (j.get("files_done") or 0) >= files // 3 or j["state"] == "done"
        )
        embedded_before = seen.get("embedded") or 0
        server.kill9()
        server.start()
        server.wait_health()
        committed = server.get("collections/crashed").json().get("chunks") or 0
        state = server.get(f"jobs/{job['id']}").json()
        if state["state"] == "interrupted":
            server.post(f"jobs/{job['id']}/resume")
        resumed = wait_job(server, job["id"], lambda j: j["state"] in ("done", "failed"))
        clean = ingest(server, "clean", ["docs"])
        clean_done = wait_job(server, clean["id"], lambda j: j["state"] in ("done", "failed"))
        crashed_chunks = server.get("collections/crashed").json().get("chunks")
        clean_chunks = server.get("collections/clean").json().get("chunks")
        redone = (embedded_before + (resumed.get("embedded") or 0)) - (clean_done.get("embedded") or 0)
        return {
            "files": files,
            "killed_at_files_done": seen.get("files_done"),
            "chunks_committed_before_kill": committed,
            "resumed_state": resumed["state"],
            "resumed_chunks": crashed_chunks,
            "clean_chunks": clean_chunks,
            "same_chunk_count": crashed_chunks == clean_chunks,
            "texts_embedded_again": redone,
        }
    finally:
        server.kill9()


def burst(root: Path, n: int) -> dict[str, Any]:
    server = ChatServer(
        root,
        extra=(
            "--ChatExtApp.preload_default_model=True",
            "--ChatExtApp.max_queue=4",
            "--ChatExtApp.max_batch_size=4",
        ),
    )
    try:
        server.start()
        server.wait_model()
        sessions = [server.new_session() for _ in range(n)]
        stop = threading.Event()
        latencies: list[float] = []
        poller = threading.Thread(target=lambda: latencies.extend(poll_status(server, stop)))
        poller.start()
        barrier = threading.Barrier(n)

        def one(session_id: str) -> TurnStream:
            barrier.wait()
            return stream_chat(server, session_id, "Name a colour.", SMALL, timeout=600)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            turns = list(pool.map(one, sessions))
        wall = time.perf_counter() - t0
        stop.set()
        poller.join()
        statuses: dict[str, int] = {}
        refused_rows = 0
        for session_id, turn in zip(sessions, turns, strict=True):
            statuses[str(turn.status)] = statuses.get(str(turn.status), 0) + 1
            if turn.status != 200:
                refused_rows += len(server.messages(session_id))
        return {
            "requests": n,
            "statuses": statuses,
            "only_200_429_503": set(statuses) <= {"200", "429", "503"},
            "rows_written_for_refused": refused_rows,
            "wall_s": round(wall, 2),
            "api_status_p50_ms": pct(latencies, 0.5),
            "api_status_p99_ms": pct(latencies, 0.99),
            "api_status_samples": len(latencies),
        }
    finally:
        server.kill9()


def slow_sql(root: Path, seconds: float) -> dict[str, Any]:
    server = ChatServer(root, extra=("--ChatExtApp.preload_default_model=False",))
    try:
        server.start()
        server.wait_health()
        result: dict[str, Any] = {}

        def run() -> None:
            t0 = time.perf_counter()
            reply = server.post("sql", {"query": SLOW_SQL}, timeout=600)
            result.update(
                status=reply.status_code,
                seconds=round(time.perf_counter() - t0, 2),
                code=(reply.json().get("error") or {}).get("code") if reply.status_code != 200 else None,
            )

        sql = threading.Thread(target=run)
        sql.start()
        stop = threading.Event()
        health: list[float] = []
        health_poller = threading.Thread(
            target=lambda: health.extend(poll_status(server, stop, "/chat-ext/health"))
        )
        health_poller.start()
        deadline = time.monotonic() + seconds
        status: list[float] = []
        with httpx.Client(headers=server.headers, timeout=60) as client:
            while sql.is_alive() and time.monotonic() < deadline:
                t0 = time.perf_counter()
                client.get(f"{server.base}/api/status")
                status.append(time.perf_counter() - t0)
                time.sleep(0.02)
        stop.set()
        health_poller.join()
        sql.join(timeout=600)
        return {
            "sql": result,
            "api_status_p50_ms": pct(status, 0.5),
            "api_status_p99_ms": pct(status, 0.99),
            "api_status_samples": len(status),
            "health_p99_ms": pct(health, 0.99),
        }
    finally:
        server.kill9()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 kills, small corpus, 20-request burst")
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--only", default="", help="comma list of parts to run")
    args = parser.parse_args()
    kills = args.kills or (3 if args.quick else 20)
    parts = set(filter(None, args.only.split(","))) or {
        "kill9_stream",
        "checkpoint_cost",
        "kill9_ingest",
        "burst",
        "slow_sql",
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    out: dict[str, Any] = {"quick": args.quick, "seed": args.seed}
    try:
        if "kill9_stream" in parts:
            out["kill9_stream"] = kill9_stream(tmp / "kills", kills, args.seed)
        if "checkpoint_cost" in parts:
            out["checkpoint_cost"] = checkpoint_cost(tmp / "ckpt", reps=2 if args.quick else 5)
        if "kill9_ingest" in parts:
            out["kill9_ingest"] = kill9_ingest(tmp / "ingest", files=60 if args.quick else 150)
        if "burst" in parts:
            out["burst"] = burst(tmp / "burst", n=20 if args.quick else 50)
        if "slow_sql" in parts:
            out["slow_sql"] = slow_sql(tmp / "sql", seconds=8 if args.quick else 30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
