#!/usr/bin/env python
"""One long chat beside short ones, per llama.cpp KV layout (prints JSON; issue 21 item 6).

In the engine (no server): for each ``--layouts`` entry (Settings.kv_layout), the packaged model
(or ``--gguf``), then per round: 7 short chats alone (bench_backends' prompts, ``--tokens`` each),
then the same 7 started together with one long chat (a ~``--long-tokens`` prompt). Reported, the
median over rounds: the short chats' aggregate completion tok/s (alone and beside the long chat),
the long chat's time to first token and total time, the lanes after the run, and the process RSS.

Fairness (``--budgets``, llamacpp_pacing.STEP_BUDGET_S): each layout runs once per prompt-reading
budget a step ("off": no cap, 512-token chunks), reporting also the short chats' worst and p90 gap
between two tokens while beside the long chat, and how many short-chat tokens came before the long
chat's first one.

In "unified" every decoded token attends over the cells of all chats, the long one included; in
"auto" the short chats stay in their split lane and the long chat gets the unified long lane.

Usage: HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_kv_long.py [--layouts auto,unified]
       [--budgets off,0.05,0.1/64,0.2] [--shorts 7] [--rounds 2] [--tokens 64] [--long-tokens 5000]
       [--n-threads 2] [--gguf PATH]
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

from bench_server import PROMPTS, percentile

from jupyter_chat_ext.engine.backends import llamacpp_pacing
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.settings import Settings

SHORT_PROMPTS = PROMPTS[:7]
N_SHORT = 7  # --shorts
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
    stamps: list[float] = []
    try:
        async for ev in eng.stream(model, messages, {"max_tokens": tokens, "temperature": 0}):
            if ev["type"] == "token":
                stamps.append(time.perf_counter())
                if first is None:
                    first = stamps[-1] - start
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
        "stamps": stamps,
        "text": last.get("text", ""),
    }


async def scenario(
    eng: Engine, model: str, tokens: int, long_msgs: list[dict[str, str]] | None
) -> dict[str, Any]:
    shorts = [[{"role": "user", "content": p}] for p in SHORT_PROMPTS[:N_SHORT]]
    start = time.perf_counter()
    jobs = [one(eng, model, m, tokens) for m in shorts]
    if long_msgs is not None:
        jobs.append(one(eng, model, long_msgs, tokens))
    done = await asyncio.gather(*jobs)
    short = done[: len(shorts)]
    short_wall = max(d["s"] for d in short)
    gaps = [b - a for d in short for a, b in zip(d["stamps"], d["stamps"][1:], strict=False)]
    out: dict[str, Any] = {
        "short_tok_s": sum(d["completion"] for d in short) / short_wall,
        "short_max_gap_s": max(gaps, default=0.0),
        "short_p90_gap_s": percentile(gaps, 0.9),
        "texts": [d["text"] for d in short],
    }
    if long_msgs is not None:
        if "error" in done[-1]:
            out["long_error"] = done[-1]["error"]
        else:
            long_first = start + done[-1]["ttft_s"]
            out |= {
                "long_s": done[-1]["s"],
                "long_ttft_s": done[-1]["ttft_s"],
                "long_prompt": done[-1]["prompt"],
                "short_tokens_before_long_first": sum(t < long_first for d in short for t in d["stamps"]),
                "long_text": done[-1]["text"],
            }
    out["wall_s"] = time.perf_counter() - start
    return out


def set_budget(pacer: Any, label: str) -> None:
    """``label``: "off" (no cap), "B" (seconds a step) or "B/M" (and M tokens at least a step)."""
    budget, _, least = label.partition("/")
    pacer.budget_s = None if budget == "off" else float(budget)
    pacer.min_chunk = int(least) if least else llamacpp_pacing.MIN_CHUNK
    pacer.s_per_token = None


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
        pacer = eng.runtime(model).loop.pacer
        per_budget: dict[str, Any] = {}
        for label in args.budgets.split(","):
            set_budget(pacer, label)
            # a new long prompt each round (its own first words), so no round reuses another's KV
            rounds = []
            for r in range(args.rounds):
                text = f"Round {r} at {label}. " + FILLER * (args.long_tokens // 19)
                long_msgs = [{"role": "user", "content": text + "Summarise the log in one paragraph."}]
                alone = asyncio.run(scenario(eng, model, args.tokens, None))
                beside = asyncio.run(scenario(eng, model, args.tokens, long_msgs))
                beside["same_short_answers"] = beside.pop("texts") == alone.pop("texts")
                rounds.append({"short_alone_tok_s": alone["short_tok_s"], **beside})
            numbers = [k for k, v in rounds[0].items() if type(v) in (int, float)]
            per_budget[label] = {
                "median": {k: round(statistics.median(r[k] for r in rounds), 3) for k in numbers},
                "long_prompt_tokens": rounds[0].get("long_prompt"),
                "long_error": rounds[0].get("long_error"),
                "same_short_answers": all(r["same_short_answers"] for r in rounds),
                "long_text": rounds[0].get("long_text", "")[:80],
                "rounds": [
                    {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items() if k != "long_text"}
                    for r in rounds
                ],
            }
        stats = eng.stats()[model]
        return {
            **per_budget,
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
    ap.add_argument("--budgets", default="off,0.1", help="seconds a step: B or B/MIN_CHUNK ('off': no cap)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--shorts", type=int, default=7, help="short chats beside the long one (at most 7)")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--long-tokens", type=int, default=5000)
    ap.add_argument("--n-threads", type=int, default=2)
    ap.add_argument("--gguf", default=None, help="a GGUF file instead of the packaged model")
    args = ap.parse_args()
    global N_SHORT
    N_SHORT = max(1, min(7, args.shorts))
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
