#!/usr/bin/env python
"""One long chat beside short ones, per llama.cpp KV layout (prints JSON; issue 21 item 6).

In the engine (no server): for each ``--layouts`` entry (Settings.kv_layout), the packaged model
(or ``--gguf``), then per round: 7 short chats alone (bench_backends' prompts, ``--tokens`` each),
then the same 7 started together with one long chat (a ~``--long-tokens`` prompt). Reported, the
median over rounds: the short chats' aggregate completion tok/s (alone and beside the long chat),
the long chat's time to first token and total time, the lanes after the run, and the process RSS.

In "unified" every decoded token attends over the cells of all chats, the long one included; in
"auto" the short chats stay in their split lane and the long chat gets the unified long lane.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_kv_long.py [--layouts auto,unified]
       [--rounds 2] [--tokens 64] [--long-tokens 5000] [--n-threads 2] [--gguf PATH]
Run it under the team's CPU lock; the JSON has the load averages before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_server import PROMPTS

from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.settings import Settings

SHORT_PROMPTS = PROMPTS[:7]
FILLER = "The harbour log notes the wind, the tide, the ships that came in and the cargo they carried. "


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def one(eng: Engine, model: str, messages: list[dict[str, str]], tokens: int) -> dict[str, Any]:
    start = time.perf_counter()
    first = None
    last: dict[str, Any] = {}
    try:
        async for ev in eng.stream(model, messages, {"max_tokens": tokens, "temperature": 0}):
            if first is None and ev["type"] == "token":
                first = time.perf_counter() - start
            last = ev
    except Exception as exc:  # e.g. the split layout's 413 for the long chat
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}
    if last.get("type") != "done":
        return {"error": str(last)[:200]}
    return {
        "s": time.perf_counter() - start,
        "ttft_s": first,
        "completion": last["metrics"]["completion_tokens"],
        "prompt": last["metrics"]["prompt_tokens"],
    }


async def scenario(
    eng: Engine, model: str, tokens: int, long_msgs: list[dict[str, str]] | None
) -> dict[str, Any]:
    shorts = [[{"role": "user", "content": p}] for p in SHORT_PROMPTS]
    start = time.perf_counter()
    jobs = [one(eng, model, m, tokens) for m in shorts]
    if long_msgs is not None:
        jobs.append(one(eng, model, long_msgs, tokens))
    done = await asyncio.gather(*jobs)
    short = done[: len(shorts)]
    short_wall = max(d["s"] for d in short)
    out: dict[str, Any] = {"short_tok_s": sum(d["completion"] for d in short) / short_wall}
    if long_msgs is not None:
        if "error" in done[-1]:
            out["long_error"] = done[-1]["error"]
        else:
            out |= {
                "long_s": done[-1]["s"],
                "long_ttft_s": done[-1]["ttft_s"],
                "long_prompt": done[-1]["prompt"],
            }
    out["wall_s"] = time.perf_counter() - start
    return out


def run_layout(layout: str, args: argparse.Namespace, data: Path) -> dict[str, Any]:
    settings = Settings(data_dir=data, backend="llamacpp", n_threads=args.n_threads, kv_layout=layout)
    if args.gguf:
        settings = Settings(
            data_dir=data, backend="llamacpp", n_threads=args.n_threads, kv_layout=layout,
            model_dirs=[Path(args.gguf).parent], scan_hf_cache=False,
        )  # fmt: skip
    eng = Engine(settings)
    model = Path(args.gguf).stem if args.gguf else PACKAGED_CHAT_ID
    try:
        eng.load(model)
        rss_load = rss_mb()
        eng.generate(model, [{"role": "user", "content": "Hello."}], {"max_tokens": 4})  # warm-up
        # a new long prompt each round (its own first words), so no round reuses another's KV
        rounds = []
        for r in range(args.rounds):
            long_msgs = [{"role": "user", "content": f"Round {r}. " + FILLER * (args.long_tokens // 19)
                          + "Summarise the log in one paragraph."}]  # fmt: skip
            alone = asyncio.run(scenario(eng, model, args.tokens, None))
            beside = asyncio.run(scenario(eng, model, args.tokens, long_msgs))
            rounds.append({"short_alone_tok_s": alone["short_tok_s"], **{k: v for k, v in beside.items()}})
        stats = eng.stats()[model]
        numbers = [k for k, v in rounds[0].items() if isinstance(v, float)]
        med = {k: round(statistics.median(r[k] for r in rounds), 3) for k in numbers}
        return {
            "median": med,
            "long_prompt_tokens": rounds[0].get("long_prompt"),
            "long_error": rounds[0].get("long_error"),
            "rounds": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rounds],
            "kv_lanes": stats.get("kv_lanes"),
            "kv_moved_to_long": stats.get("kv_moved_to_long"),
            "rss_after_load_mb": rss_load,
            "rss_after_runs_mb": rss_mb(),
        }
    finally:
        eng.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layouts", default="auto,unified")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--long-tokens", type=int, default=5000)
    ap.add_argument("--n-threads", type=int, default=2)
    ap.add_argument("--gguf", default=None, help="a GGUF file instead of the packaged model")
    args = ap.parse_args()
    started = time.perf_counter()
    out: dict[str, Any] = {"args": vars(args), "load_before": list(os.getloadavg())}
    with tempfile.TemporaryDirectory() as tmp:
        for layout in args.layouts.split(","):
            out[layout] = run_layout(layout, args, Path(tmp) / layout)
    out["load_after"] = list(os.getloadavg())
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
