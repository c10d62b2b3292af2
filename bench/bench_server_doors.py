#!/usr/bin/env python
"""The server's doors under abuse (prints JSON): oversized bodies and a slow SQL query.

1. A 200 MB POST to a JSON route: the status, how long until the answer, and the server's peak RSS
   (VmHWM) before and after. Goal (issue 12): 413 without buffering the body (the landed code read
   it whole: +400 MB RSS). Sent twice: with ``Content-Length`` (refused before a byte is read) and
   chunked (cut off once the bytes received pass the limit).
2. Jupyter's ``/api/status`` and the extension's ``GET sessions`` latency (p50/p99) idle and while a
   ``POST /chat-ext/sql`` scans a huge range until its 30 s timeout. Goal: p99 <= 100 ms (the landed
   code: 28.5 s, the store lock and the 4 worker threads were held).

Usage: .venv/bin/python bench/bench_server_doors.py [--sql-seconds 30] [--body-mb 200]
The CPU may be shared with other work: the JSON records the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import TOKEN, JupyterServer, percentile

SLOW_SQL = "SELECT count(*) FROM range(50000000000) t(i) WHERE i % 7 = 3"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def big_post(server: JupyterServer, path: str, size: int, *, chunked: bool) -> dict[str, Any]:
    """POST ``size`` bytes of JSON-ish junk; stop sending once the server answered."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: token {TOKEN}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    )
    t0 = time.perf_counter()
    sock.sendall(head.encode())
    answer = b""
    sent = 0
    piece = b"x" * 65536
    sock.settimeout(0.0)
    while sent < size:
        try:
            answer += sock.recv(65536)
        except BlockingIOError:
            pass
        except OSError:
            break
        if answer:
            break
        try:
            sock.settimeout(5)
            sock.sendall((b"%x\r\n" % len(piece) + piece + b"\r\n") if chunked else piece)
            sock.settimeout(0.0)
            sent += len(piece)
        except OSError:  # the server answered and closed the connection
            break
    sock.settimeout(30)
    try:
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    except OSError:
        pass
    sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
    return {
        "status": status,
        "answer_s": round(time.perf_counter() - t0, 3),
        "sent_mb": round(sent / 2**20, 1),
    }


def latencies(server: JupyterServer, url: str, stop: threading.Event, out: list[float]) -> None:
    import httpx

    with httpx.Client(headers=server.headers, timeout=120) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            client.get(f"{server.base}{url}")
            out.append(time.perf_counter() - t0)
            time.sleep(0.05)


def sample(server: JupyterServer, seconds: float) -> dict[str, dict[str, float]]:
    stop = threading.Event()
    found: dict[str, list[float]] = {"/api/status": [], "/chat-ext/sessions": []}
    threads = [threading.Thread(target=latencies, args=(server, u, stop, v)) for u, v in found.items()]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return {
        url: {
            "n": len(v),
            "p50_ms": round(percentile(v, 0.5) * 1000, 1),
            "p99_ms": round(percentile(v, 0.99) * 1000, 1),
            "max_ms": round(max(v) * 1000, 1),
        }
        for url, v in found.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sql-seconds", type=float, default=30.0, help="how long to sample during the query")
    ap.add_argument("--body-mb", type=int, default=200)
    args = ap.parse_args()
    result: dict[str, Any] = {"loadavg_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        server = JupyterServer(Path(tmp), "--ChatExtApp.preload_default_model=False")
        try:
            server.wait_ready()
            import httpx

            httpx.get(f"{server.base}/chat-ext/health", headers=server.headers, timeout=120)  # build core
            sid = httpx.post(f"{server.base}/chat-ext/sessions", headers=server.headers, json={}).json()["id"]
            path = f"/chat-ext/sessions/{sid}/chat"
            size = args.body_mb * 2**20
            rss0 = peak_rss_mb(server.proc.pid)
            fixed = big_post(server, path, size, chunked=False)
            chunked = big_post(server, path, size, chunked=True)
            rss1 = peak_rss_mb(server.proc.pid)
            result["oversized_body"] = {
                "body_mb": args.body_mb,
                "content_length": fixed,
                "chunked": chunked,
                "server_peak_rss_mb_before": round(rss0, 1),
                "server_peak_rss_mb_after": round(rss1, 1),
                "peak_rss_growth_mb": round(rss1 - rss0, 1),
            }
            result["idle"] = sample(server, 5)
            done: dict[str, Any] = {}

            def run_sql() -> None:
                t0 = time.perf_counter()
                r = httpx.post(
                    f"{server.base}/chat-ext/sql",
                    headers=server.headers,
                    json={"query": SLOW_SQL},
                    timeout=300,
                )
                done.update(status=r.status_code, seconds=round(time.perf_counter() - t0, 1))

            query = threading.Thread(target=run_sql)
            query.start()
            time.sleep(0.5)
            result["during_slow_sql"] = sample(server, args.sql_seconds)
            query.join()
            result["slow_sql"] = done
        finally:
            server.stop()
    result["loadavg_after"] = os.getloadavg()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
