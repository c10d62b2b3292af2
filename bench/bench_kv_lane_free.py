#!/usr/bin/env python
"""What freeing an idle long KV lane gives back and what making it again costs (prints JSON).

For llamacpp_lanes.IDLE_FREE_S. In the engine (no server), the packaged model (or ``--gguf``):

- ``make``: per cell count, the seconds to make a unified llama.cpp context of that many cells on
  the loaded model (what a freed lane costs to make again) and VmRSS before, after making it, after
  one decode in it, after freeing it;
- ``engine``: a long chat (``--long-tokens``) in the "auto" layout: its time to first token (what
  its next turn pays again once the lane and its cached prompt are gone), RSS with the long lane
  made, RSS once it is freed (IDLE_FREE_S set to 0.2 s here), and the next turn's time after the
  free vs with the lane kept.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_kv_lane_free.py [--cells 2048,4096,8192]
       [--long-tokens 5000] [--n-threads 2] [--gguf PATH]
Run it under the team's CPU lock; the JSON has the load averages before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_kv_long import FILLER, rss_mb

from jupyter_chat_ext.engine.backends import llamacpp_lanes
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.settings import Settings


def make_contexts(rt: Any, cells: list[int]) -> list[dict[str, Any]]:
    ll, out = rt.ll, []
    token = rt.vocab.tokenize("Hello", add_special=False, parse_special=False)[0]
    for n in cells:
        before = rss_mb()
        started = time.perf_counter()
        ctx = rt._new_context(n, True, rt.n_slots)
        made_s = time.perf_counter() - started
        made = rss_mb()
        batch = ll.llama_batch_get_one((ll.llama_token * 1)(token), 1)
        ll.llama_decode(ctx, batch)
        decoded = rss_mb()
        started = time.perf_counter()
        ll.llama_free(ctx)
        free_s = time.perf_counter() - started
        out.append({
            "cells": n, "kv_mb": round(n * rt.kv_cell_bytes / 2**20, 1), "make_s": round(made_s, 4),
            "free_s": round(free_s, 4), "rss_before_mb": before, "rss_made_mb": made,
            "rss_after_decode_mb": decoded, "rss_freed_mb": rss_mb(),
        })  # fmt: skip
    return out


def long_chat(eng: Engine, model: str, args: argparse.Namespace) -> dict[str, Any]:
    text = FILLER * (args.long_tokens // 19) + "Summarise the log in one paragraph."
    msgs = [{"role": "user", "content": text}]
    started = time.perf_counter()
    first = eng.generate(model, msgs, {"max_tokens": 8, "temperature": 0})
    first_s = time.perf_counter() - started
    lanes = {lane["name"]: lane for lane in eng.stats()[model]["kv_lanes"]}
    with_lane = rss_mb()
    turn2 = [*msgs, {"role": "assistant", "content": first["text"]}, {"role": "user", "content": "Shorter."}]
    started = time.perf_counter()
    eng.generate(model, turn2, {"max_tokens": 8, "temperature": 0})
    kept_s = time.perf_counter() - started
    llamacpp_lanes.IDLE_FREE_S = 0.2
    eng.generate(model, [{"role": "user", "content": "Hi."}], {"max_tokens": 1})  # wakes the timer
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if {lane["name"]: lane for lane in eng.stats()[model]["kv_lanes"]}["long"]["freed"]:
            break
        time.sleep(0.05)
    freed = rss_mb()
    turn3 = [*turn2, {"role": "assistant", "content": "."}, {"role": "user", "content": "Again."}]
    started = time.perf_counter()
    eng.generate(model, turn3, {"max_tokens": 8, "temperature": 0})
    return {
        "prompt_tokens": first["metrics"]["prompt_tokens"],
        "long_lane_cells": lanes["long"]["cells"],
        "first_turn_s": round(first_s, 3),
        "next_turn_lane_kept_s": round(kept_s, 3),
        "next_turn_after_free_s": round(time.perf_counter() - started, 3),
        "rss_with_long_lane_mb": with_lane,
        "rss_long_lane_freed_mb": freed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", default="2048,4096,8192")
    ap.add_argument("--long-tokens", type=int, default=5000)
    ap.add_argument("--n-threads", type=int, default=2)
    ap.add_argument("--gguf", default=None, help="a GGUF file instead of the packaged model")
    args = ap.parse_args()
    out: dict[str, Any] = {"args": vars(args), "load_before": list(os.getloadavg())}
    with tempfile.TemporaryDirectory() as tmp:
        extra: dict[str, Any] = {}
        if args.gguf:
            extra = {"model_dirs": [Path(args.gguf).parent], "scan_hf_cache": False}
        settings = Settings(data_dir=Path(tmp), backend="llamacpp", n_threads=args.n_threads, **extra)
        model = Path(args.gguf).stem if args.gguf else PACKAGED_CHAT_ID
        eng = Engine(settings)
        try:
            eng.load(model)
            out["rss_after_load_mb"] = rss_mb()
            rt = eng.runtime(model)
            out["kv_cell_bytes"] = rt.kv_cell_bytes
            out["make"] = make_contexts(rt, [int(c) for c in args.cells.split(",")])
            out["engine"] = long_chat(eng, model, args)
        finally:
            eng.close()
    out["load_after"] = list(os.getloadavg())
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
