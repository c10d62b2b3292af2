#!/usr/bin/env python
"""What the server's resident memory is made of once the packaged model is loaded (prints JSON).

Starts a real ``jupyter server`` with the extension (as bench_backends.py does), waits for the
default model to load, then reads ``/proc/PID/status`` (VmRSS: the goal of issue 21 is <= 400 MB)
and ``/proc/PID/smaps``: every mapping's Rss, grouped by what it holds:

- ``model_file``: the mmapped GGUF the model runs from (the Q8_0 CPU copy of the packaged Q4_1)
- ``anon``: anonymous memory (Python's heap and arenas, glibc malloc arenas of every thread,
  llama.cpp's KV / compute / output buffers); ``heap`` is the brk heap alone; ``stack``
- ``so``: shared libraries, by package (site-packages/<package>, the interpreter, system libs)
- ``other_file``: other mapped files (locale archives, fonts, ...)

``top_mb`` lists the largest groups (``so:_duckdb`` is DuckDB's library, ``so:pyarrow`` Arrow's:
an imported module's native code shows there, its Python objects in ``anon``/``heap``), and
``status.Threads`` the server's threads. Run it before and after a change in the same way and
compare ``rss_mb`` and ``by_kind_mb``; ``--server-arg`` passes options to our server, ``--env K=V``
sets the server's environment (e.g. ``--env MALLOC_ARENA_MAX=2``), ``--rounds N`` starts the server
N times (the median one is shown). To compare with an older revision, run this file with
``PYTHONPATH`` pointing at a checkout of it (``git worktree add --detach /tmp/old REV``).

Figures (packaged model, default settings, 2-core machine; issue 21):
  before (89db910): VmRSS 413.3 MB = anon 157.7 + heap 19.2 + model_file 136.4 + so 99.7
    (so: _duckdb 38.7, pyarrow 27.6, python 8.4, numpy 5.2, libcrypto 3.8, llama_cpp 3.7, ...);
    23 threads. Inside anon: llama.cpp's KV buffer 45.0 MB (2048 cells), output buffer 1.5 MB
    (its 102.5 MB compute buffer is reserved, not touched until the first decode), the rest Python
    objects of imported modules (a bare ``jupyter server`` without the extension: 89 MB).
  after: 375.6 MB: the SQL door's private DuckDB instance (~24 MB and 10 threads) is made on its
    first use, pyarrow (~27.6 MB of library + its Python objects) is imported where rows are
    written (the first stored message, a RAG collection), not at start-up.
  MALLOC_ARENA_MAX=2: 413.4 MB (no change); malloc_trim(0) after the load: 413.0 (no change).

Usage: .venv/bin/python bench/bench_rss.py [--rounds 3] [--top 15] [--server-arg=...] [--env K=V]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_server import MODEL, JupyterServer

SITE = re.compile(r"/(?:site|dist)-packages/([^/]+)")


def kind_of(path: str) -> tuple[str, str]:
    """(kind, detail) of one mapping by its path."""
    if not path:
        return "anon", "anon"
    if path == "[heap]":
        return "heap", "[heap]"
    if path.startswith("[stack"):
        return "stack", path
    if path.startswith("["):
        return "other", path
    if path.endswith(".gguf"):
        return "model_file", Path(path).name
    name = Path(path).name
    if ".so" in name or name.startswith("python3"):
        m = SITE.search(path)
        if m:
            return "so", m.group(1).split(".")[0].removesuffix(".libs")
        return "so", "python" if "python3" in path else "system:" + name.split(".so")[0]
    return "other_file", path


def smaps(pid: int) -> dict[str, Any]:
    """Rss (kB) per kind and per detail from /proc/PID/smaps."""
    by_kind: dict[str, int] = defaultdict(int)
    by_detail: dict[tuple[str, str], int] = defaultdict(int)
    anon_sizes: list[int] = []
    path = ""
    header = re.compile(r"^[0-9a-f]+-[0-9a-f]+ ")
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if header.match(line):
            parts = line.split(None, 5)
            path = parts[5].strip() if len(parts) > 5 else ""
        elif line.startswith("Rss:"):
            kb = int(line.split()[1])
            kind, detail = kind_of(path)
            by_kind[kind] += kb
            by_detail[(kind, detail)] += kb
            if kind == "anon" and kb:
                anon_sizes.append(kb)
    return {"by_kind": dict(by_kind), "by_detail": dict(by_detail), "anon_sizes": anon_sizes}


def rollup(pid: int) -> dict[str, float]:
    keys = ("Rss", "Pss", "Anonymous", "Shared_Clean", "Private_Clean", "Private_Dirty", "Swap")
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def status(pid: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
        elif key == "Threads":
            out[key] = int(value)
    return out


def one_start(tmp: Path, server_args: list[str], env: dict[str, str], settle_s: float) -> dict[str, Any]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        server = JupyterServer(tmp, "--ChatExtApp.backend=llamacpp", *server_args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        server.wait_ready()
        server.wait_model(MODEL)
        time.sleep(settle_s)  # let start-up threads finish what they were doing
        pid = server.proc.pid
        maps = smaps(pid)
        mb = lambda kb: round(kb / 1024, 1)  # noqa: E731
        return {
            "status": status(pid),
            "rollup": rollup(pid),
            "by_kind_mb": {k: mb(v) for k, v in sorted(maps["by_kind"].items(), key=lambda kv: -kv[1])},
            "by_detail_kb": maps["by_detail"],
            "largest_anon_mb": [mb(kb) for kb in sorted(maps["anon_sizes"], reverse=True)[:8]],
        }
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1, help="server starts; the median VmRSS one is shown")
    ap.add_argument("--top", type=int, default=15, help="largest mappings by detail to list")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds to wait after the load")
    ap.add_argument("--server-arg", action="append", default=[], help="extra option for our server")
    ap.add_argument("--env", action="append", default=[], help="K=V in the server's environment")
    args = ap.parse_args()
    env = dict(kv.split("=", 1) for kv in args.env)
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.rounds):
            runs.append(one_start(Path(d) / f"s{i}", args.server_arg, env, args.settle))
    runs.sort(key=lambda r: r["status"]["VmRSS"])
    pick = runs[len(runs) // 2]
    top = sorted(pick.pop("by_detail_kb").items(), key=lambda kv: -kv[1])[: args.top]
    for r in runs:
        r.pop("by_detail_kb", None)
    out = {
        "load_before": os.getloadavg(),
        "server_args": args.server_arg,
        "env": env,
        "rss_mb": pick["status"]["VmRSS"],
        "rss_mb_all_rounds": [r["status"]["VmRSS"] for r in runs],
        "rss_mb_median": statistics.median(r["status"]["VmRSS"] for r in runs),
        **pick,
        "top_mb": {f"{k}:{d}": round(kb / 1024, 1) for (k, d), kb in top},
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
