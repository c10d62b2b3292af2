#!/usr/bin/env python
"""Backend benchmark (prints JSON): llama.cpp vs transformers through the server, and remote.

1. Bare llama-cpp-python on the packaged GGUF (``Llama.create_chat_completion``, one stream): the
   single-stream reference. Goal: our llama.cpp backend's single stream >= 0.9x of it.
2. A real `jupyter server` per backend (``--ChatExtApp.backend=llamacpp|transformers``): first load
   of the packaged model, then 1/4/8 concurrent chats through ``/chat-ext/v1`` with the official
   openai client (non-streamed, ``max_tokens`` 64), aggregate completion tok/s; server RSS.
   Reference at 4/8 chats: llama.cpp's own ``llama-server -np 8 -t 2`` measured on this machine
   kind, 113 / 153 / 172 tok/s at 1/4/8 (TOOLCHAIN.md; not rebuilt here: ~8 min of both cores).
   With ``--llama-server PATH`` it runs in the same run, side by side: ``--anchor-kv split`` is its
   default layout for ``-np 8`` (8192 KV cells, 1024 a chat), ``--anchor-kv unified`` is ours (one
   4096-cell pool any chat may fill). Our ``--ChatExtApp.kv_unified=False`` is the split layout.
3. Remote: ``python -m llama_cpp.server`` on the same GGUF, hit directly and through our server
   as a remote endpoint (streamed, one client): tok/s ratio and TTFT delta. Goals: >= 0.95x, <= +20 ms.
4. ``--shape``: random-weight GGUFs of real shapes (bench/shape_bench.py), ours vs llama-server only.

Usage: .venv/bin/python bench/bench_backends.py [--quick] [--tokens 64] [--rounds 2]
       [--shape smollm2-360m|qwen2.5-1.5b|smollm2-1.7b [--quant Q4_K_M|Q8_0]] [--llama-server PATH]
Runs alternate so one thing computes at a time; the JSON has load averages, ``ours_kv`` our KV layout.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))

from bench_server import MODEL, PROMPTS, TOKEN, JupyterServer, served_weights
from llama_anchor import ANCHOR_KV, LlamaServerAnchor, find_llama_server, side_client
from remote_fixtures import llama_server, packaged_gguf
from shape_bench import add_shape_args, bench_shape, our_layout

REF_LLAMA_SERVER = {"1": 113.0, "4": 153.0, "8": 172.0}


def rss_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def bare_llama(tokens: int, rounds: int) -> dict[str, Any]:
    from llama_cpp import Llama

    t0 = time.perf_counter()
    llm = Llama(model_path=str(packaged_gguf()), n_ctx=2048, n_threads=os.cpu_count() or 2, verbose=False)
    load_s = time.perf_counter() - t0
    rates = []
    for i in range(rounds):
        msgs = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
        llm.reset()
        t0 = time.perf_counter()
        out = llm.create_chat_completion(msgs, max_tokens=tokens, temperature=0)
        rates.append(out["usage"]["completion_tokens"] / (time.perf_counter() - t0))
    del llm
    return {"load_s": round(load_s, 3), "tok_s": round(statistics.median(rates), 1)}


async def openai_round(client: Any, model: str, n: int, tokens: int, offset: int) -> dict[str, Any]:
    async def one(i: int) -> int:
        resp = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": PROMPTS[(offset + i) % len(PROMPTS)]}],
            max_tokens=tokens,
            temperature=0,
        )
        return resp.usage.completion_tokens

    t0 = time.perf_counter()
    counts = await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.perf_counter() - t0
    return {"tok_s": sum(counts) / wall, "tokens": sum(counts)}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through_server(
    backend: str,
    tmp: Path,
    tokens: int,
    rounds: int,
    levels: list[int],
    n_threads: int,
    anchor_binary: Path | None = None,
    anchor_weights: Path | None = None,
    server_args: tuple[str, ...] = (),
    anchor_kv: str = "split",
    model: str = MODEL,
) -> dict[str, Any]:
    """1/4/8 concurrent chats through our server; with ``anchor_binary``, llama-server too.

    The two servers run side by side (an idle one costs nothing) and every round alternates
    between them (who goes first alternates too), so both see the same machine load and their
    ratio comes from one run: ``vs_llama_server_paired`` is the median of the rounds' own ratios
    (on 2 cores a round's speed drifts by +-15 %; a ratio within a round drifts less). CPU
    seconds per completion token (the server process, all its threads) show where time goes
    even when the machine is shared.
    """

    server = JupyterServer(
        tmp / backend,
        f"--ChatExtApp.backend={backend}",
        "--ChatExtApp.max_batch_size=8",
        f"--ChatExtApp.n_threads={n_threads}",
        *server_args,
    )
    anchor = None
    try:
        server.wait_ready()
        t0 = time.perf_counter()
        server.wait_model(model)
        import httpx

        info = httpx.get(f"{server.base}/chat-ext/models/{model}", headers=server.headers, timeout=30).json()
        out: dict[str, Any] = {
            "backend": info.get("backend"),
            "load_s": info.get("load_s"),
            "load_wall_s": round(time.perf_counter() - t0, 2),
            "rss_after_load_mb": rss_mb(server.proc.pid),
            "weights": info.get("dtype"),
        }
        ours = side_client(f"{server.base}/chat-ext/v1", TOKEN)
        targets = {"ours": (ours, server.proc.pid)}
        if anchor_binary is not None:
            weights = anchor_weights or packaged_gguf()
            threads = n_threads or os.cpu_count() or 2
            anchor = LlamaServerAnchor(anchor_binary, tmp, threads, weights, anchor_kv, model)
            out["llama_server_weights"] = Path(weights).name
            out["llama_server_kv"] = " ".join(ANCHOR_KV[anchor_kv])
            anchor.wait_ready()
            theirs = side_client(anchor.base, "none")
            targets["llama_server"] = (theirs, anchor.proc.pid)

        async def run() -> dict[str, dict[str, Any]]:
            for client, _pid in targets.values():
                await openai_round(client, model, 1, 8, 0)  # warm-up
            res: dict[str, dict[str, Any]] = {name: {"tok_s": {}, "cpu_ms_per_token": {}} for name in targets}
            paired: dict[str, list[float]] = {}
            for n in levels:
                rates: dict[str, list[float]] = {name: [] for name in targets}
                cpu: dict[str, list[float]] = {name: [] for name in targets}
                for r in range(rounds):
                    order = list(targets.items())
                    if r % 2:  # who goes first alternates: drift in the machine's speed hits both alike
                        order.reverse()
                    for name, (client, pid) in order:
                        c0 = cpu_s(pid)
                        got = await openai_round(client, model, n, tokens, r)
                        rates[name].append(got["tok_s"])
                        cpu[name].append(1000 * (cpu_s(pid) - c0) / max(got["tokens"], 1))
                    if "llama_server" in rates:
                        paired.setdefault(str(n), []).append(rates["ours"][-1] / rates["llama_server"][-1])
                for name in targets:
                    res[name]["tok_s"][str(n)] = round(statistics.median(rates[name]), 1)
                    res[name]["cpu_ms_per_token"][str(n)] = round(statistics.median(cpu[name]), 2)
            if paired:  # each round's ratio (both measured within seconds of each other), then the median
                res["ours"]["vs_llama_server_paired"] = {
                    n: {"median": round(statistics.median(v), 3), "rounds": [round(x, 3) for x in v]}
                    for n, v in paired.items()
                }
            for client, _pid in targets.values():
                await client.close()
            return res

        res = asyncio.run(run())
        out.update(res["ours"])
        if "llama_server" in res:
            out["llama_server_same_run"] = res["llama_server"]
        out["rss_after_runs_mb"] = rss_mb(server.proc.pid)
        return out
    finally:
        server.stop()
        if anchor is not None:
            anchor.stop()


async def stream_once(client: Any, model: str, tokens: int, prompt: str) -> tuple[float, float]:
    t0 = time.perf_counter()
    first, n = None, 0
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=tokens,
        temperature=0,
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
            n += 1
    end = time.perf_counter()
    return (n - 1) / max(end - (first or end), 1e-9), (first or end) - t0


def remote_vs_direct(tmp: Path, tokens: int, rounds: int) -> dict[str, Any]:
    from openai import AsyncOpenAI

    with llama_server() as (base, _proc):
        endpoint = json.dumps([{"name": "lc", "base_url": base}])
        server = JupyterServer(
            tmp / "remote",
            f"--ChatExtApp.remote_endpoints={endpoint}",
            "--ChatExtApp.preload_default_model=False",
        )
        try:
            server.wait_ready()
            direct = AsyncOpenAI(base_url=base, api_key="none", timeout=600)
            proxy = AsyncOpenAI(base_url=f"{server.base}/chat-ext/v1", api_key=TOKEN, timeout=600)

            async def run() -> dict[str, list[tuple[float, float]]]:
                await stream_once(proxy, "lc/smollm2", 4, PROMPTS[0])  # warm-up both paths
                await stream_once(direct, "smollm2", 4, PROMPTS[0])
                res: dict[str, list[tuple[float, float]]] = {"direct": [], "proxy": []}
                paths = [("direct", direct, "smollm2"), ("proxy", proxy, "lc/smollm2")]
                for r in range(rounds * 2):
                    # a new prompt each round, put in the endpoint's prompt cache first, so both
                    # measured requests find it cached (llama_cpp.server keeps the last prompt) and
                    # the TTFT difference is the proxy's own; the order alternates against drift
                    prompt = f"{PROMPTS[r % len(PROMPTS)]} (round {r})"
                    await stream_once(direct, "smollm2", 1, prompt)
                    for name, client, model in paths if r % 2 == 0 else paths[::-1]:
                        res[name].append(await stream_once(client, model, tokens, prompt))
                await direct.close()
                await proxy.close()
                return res

            res = asyncio.run(run())
        finally:
            server.stop()
    med = {
        k: (statistics.median(r for r, _ in v), statistics.median(t for _, t in v)) for k, v in res.items()
    }
    return {
        "direct_tok_s": round(med["direct"][0], 1),
        "proxy_tok_s": round(med["proxy"][0], 1),
        "tok_s_ratio": round(med["proxy"][0] / med["direct"][0], 3),
        "direct_ttft_ms": round(med["direct"][1] * 1000, 1),
        "proxy_ttft_ms": round(med["proxy"][1] * 1000, 1),
        "ttft_delta_ms": round((med["proxy"][1] - med["direct"][1]) * 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--levels", default="1,4,8")
    ap.add_argument("--skip", default="", help="comma list of: bare,llamacpp,transformers,remote")
    ap.add_argument("--n-threads", type=int, default=0, help="llama.cpp threads (0: all cores)")
    ap.add_argument("--quick", action="store_true", help="16 tokens, 1 round, levels 1,4")
    ap.add_argument(
        "--llama-server",
        default=None,
        help="llama.cpp's llama-server binary, measured in the same run (else $LLAMA_SERVER or "
        ".cache/llama-server/llama-server; without one the ratios use the reference figures)",
    )
    ap.add_argument(
        "--anchor-weights",
        choices=("served", "file"),
        default="served",
        help="llama-server loads the weights our server runs (served: the Q8_0 CPU copy of the "
        "packaged Q4_1) or the packaged file as shipped (file)",
    )
    ap.add_argument(
        "--anchor-kv",
        choices=tuple(ANCHOR_KV),
        default="split",
        help="llama-server's KV layout: its default for -np 8 (split: 8192 cells, 1024 a chat) or "
        "ours (unified: one 4096-cell pool)",
    )
    ap.add_argument("--server-arg", action="append", default=[], help="extra option for our server")
    add_shape_args(ap)
    args = ap.parse_args()
    if args.quick:
        args.tokens, args.rounds, args.levels = 16, 1, "1,4"
    levels = [int(x) for x in args.levels.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    started, load = time.perf_counter(), os.getloadavg()
    out: dict[str, Any] = {"tokens": args.tokens, "rounds": args.rounds, "load_before": load}
    out["ours_kv"] = our_layout(args.server_arg)
    anchor = find_llama_server(args.llama_server)
    out["llama_server_binary"] = str(anchor) if anchor else None
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.shape:
            out.update(bench_shape(args, tmp, levels, anchor, through_server))
            skip |= {"bare", "llamacpp", "remote", "transformers"}
        stages = {
            "bare_llama_cpp": lambda: bare_llama(args.tokens, max(3, args.rounds)),
            "llamacpp": lambda: through_server(
                "llamacpp",
                tmp,
                args.tokens,
                args.rounds,
                levels,
                args.n_threads,
                anchor,
                served_weights(tmp) if args.anchor_weights == "served" else packaged_gguf(),
                tuple(args.server_arg),
                args.anchor_kv,
            ),
            "remote": lambda: remote_vs_direct(tmp, args.tokens, max(3, args.rounds)),
            "transformers": lambda: through_server("transformers", tmp, args.tokens, args.rounds, levels, 0),
        }
        for name, stage in stages.items():
            if name.replace("_llama_cpp", "") in skip or name in skip:
                continue
            out[name] = stage()
            # each stage's figures as soon as they exist (a long run may be cut short)
            print(json.dumps({name: out[name]}), file=sys.stderr, flush=True)
    lc, tf, bare = out.get("llamacpp"), out.get("transformers"), out.get("bare_llama_cpp")
    ratios: dict[str, Any] = {"llama_server_reference_tok_s": REF_LLAMA_SERVER}
    if lc and bare:
        ratios["llamacpp_single_vs_bare"] = round(lc["tok_s"]["1"] / bare["tok_s"], 3)
    if lc and not args.shape:  # the reference figures are the packaged model's
        ratios["llamacpp_vs_llama_server_ref"] = {
            k: round(v / REF_LLAMA_SERVER[k], 3) for k, v in lc["tok_s"].items() if k in REF_LLAMA_SERVER
        }
    if lc and lc.get("llama_server_same_run"):
        same = lc["llama_server_same_run"]["tok_s"]
        ratios["llamacpp_vs_llama_server_same_run"] = {
            k: round(v / same[k], 3) for k, v in lc["tok_s"].items() if same.get(k)
        }
        ratios["llamacpp_vs_llama_server_paired"] = {
            k: v["median"] for k, v in lc.get("vs_llama_server_paired", {}).items()
        }
    if lc and tf:
        ratios["llamacpp_vs_transformers"] = {k: round(v / tf["tok_s"][k], 2) for k, v in lc["tok_s"].items()}
    out["ratios"] = ratios
    out["load_after"] = os.getloadavg()
    out["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
