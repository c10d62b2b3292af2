#!/usr/bin/env python
"""Inline completion benchmark (prints JSON): ghost-text latency and typing cancellation.

A real `jupyter server` with the llama.cpp backend and the packaged model; requests go to
``POST /chat-ext/inline`` (SSE) exactly as the JupyterLab provider sends them.

1. Latency: ``--requests`` completions of one line (``max_lines`` 1) for a 1k-character and a
   4k-character prefix of real Python source (the standard library's own files, each request at
   another place, so no request reuses another's cached prompt). Time to the first ghost token and
   to the done event, p50/p95. Goal: p50 first token <= 300 ms for 1k characters.
2. Warm: typing with pauses (each request extends the last one's prefix by 3 characters and
   starts when it is done): the engine reuses the cached prompt, the steady state while editing.
3. Focus: what the JupyterLab provider does. A cell gets the cursor and the provider sends a warm
   request (the prompt evaluated into the engine's cache, no ghost text); the user starts typing
   ``--think-ms`` later (each figure listed); the first keystroke's request waits for the warm one
   if it still runs, as the provider does. Time from that keystroke's request to the first ghost
   token, p50/p95, at fresh places of the corpus (nothing else cached).
4. Floor: the same 1k-character prompts evaluated by bare llama-cpp-python in this process (no
   server, no HTTP), on the packaged Q4_1 file and on the Q8_0 copy our server runs: the least a
   cold first token can cost on this CPU, so the cold figure reads as a ratio to it.
5. Typing: one line typed character by character, a new request every ``--keystroke-ms`` (80 ms)
   that closes the previous one if it is still in flight (what the provider does on a keystroke).
   Reports how many requests were cancelled in flight, how many completed, the first-token times of
   the completed ones (the prompt prefix stays cached across keystrokes), and whether the engine's
   slots were all free afterwards (cancellation reached the engine).

Usage: .venv/bin/python bench/bench_completion.py [--requests 30] [--keystroke-ms 80]
       [--modes cold,focus,floor,warm,typing] [--think-ms 500,1500]
       [--server-arg=--ChatExtApp.n_threads=1 ...]
The CPU may be shared: load averages are recorded with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))

from bench_server import MODEL, JupyterServer, served_weights


def source_corpus() -> str:
    """A few thousand lines of real Python (standard library modules shipped with this Python)."""
    import argparse as a
    import inspect as i
    import json.decoder as d
    import textwrap as t

    return "\n".join(Path(m.__file__).read_text(encoding="utf-8") for m in (i, a, t, d) if m.__file__)


def prefixes(corpus: str, size: int, n: int, seed: int) -> list[str]:
    """``n`` prefixes of ``size`` characters ending at a line end inside an indented block."""
    rng = random.Random(seed)
    ends = [
        i + 1 for i, ch in enumerate(corpus) if ch == "\n" and i > size and corpus[i + 1 : i + 5] == "    "
    ]
    return [corpus[e - size : e] for e in rng.sample(ends, n)]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1)


async def one(http: Any, base: str, prefix: str, suffix: str = "", warm: bool = False) -> dict[str, Any]:
    """One inline request, read to its done event; times in seconds from the request."""
    body = {"prefix": prefix, "suffix": suffix, "language": "python", "max_lines": 1, "warm": warm}
    t0 = time.perf_counter()
    first = None
    done: dict[str, Any] = {}
    async with http.stream("POST", f"{base}/chat-ext/inline", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "token" and first is None:
                first = time.perf_counter() - t0
            elif event["type"] in ("done", "error"):
                done = event
    return {"first_s": first, "total_s": time.perf_counter() - t0, "done": done}


async def latency(http: Any, base: str, corpus: str, size: int, n: int) -> dict[str, Any]:
    results = [await one(http, base, p) for p in prefixes(corpus, size, n, seed=size)]
    firsts = [r["first_s"] for r in results if r["first_s"] is not None]
    totals = [r["total_s"] for r in results]
    metrics = [r["done"].get("metrics") or {} for r in results]
    return {
        "prefix_chars": size,
        "requests": n,
        "with_text": len(firsts),
        "first_token_ms": {"p50": pct(firsts, 0.5), "p95": pct(firsts, 0.95)},
        "full_line_ms": {"p50": pct(totals, 0.5), "p95": pct(totals, 0.95)},
        "prompt_tokens_median": statistics.median(m.get("prefix_tokens", 0) for m in metrics),
        "sample": results[0]["done"].get("text"),
    }


async def focus(http: Any, base: str, corpus: str, n: int, think_s: float) -> dict[str, Any]:
    """Warm on focus, type after ``think_s``: first ghost token from the first keystroke's request."""
    firsts: list[float] = []
    warm_s: list[float] = []
    for prefix in prefixes(corpus, 1000, n, seed=int(think_s * 1000) + 3):
        end = corpus.index(prefix) + len(prefix)
        typed = corpus[end : end + 8]
        warming = asyncio.ensure_future(one(http, base, prefix, warm=True))
        await asyncio.sleep(think_s)
        keystroke = time.perf_counter()
        warm_s.append((await warming)["total_s"])  # the provider waits for a warm still running
        result = await one(http, base, prefix + typed)
        if result["first_s"] is not None:
            firsts.append(time.perf_counter() - keystroke - result["total_s"] + result["first_s"])
    return {
        "prefix_chars": 1000,
        "think_ms": round(think_s * 1000),
        "requests": n,
        "with_text": len(firsts),
        "warm_request_ms": {"p50": pct(warm_s, 0.5), "p95": pct(warm_s, 0.95)},
        "first_token_ms": {"p50": pct(firsts, 0.5), "p95": pct(firsts, 0.95)},
    }


def floor(corpus: str, n: int, weights: dict[str, str], threads: int) -> dict[str, Any]:
    """Bare llama-cpp-python: evaluate each cold 1k-character prompt plus one token (no HTTP)."""
    import llama_cpp

    out: dict[str, Any] = {}
    for name, path in weights.items():
        llm = llama_cpp.Llama(path, n_ctx=2048, n_threads=threads, n_batch=512, verbose=False)
        times = []
        for prefix in prefixes(corpus, 1000, n, seed=1000):
            tokens = llm.tokenize(prefix.encode())
            llm.reset()
            started = time.perf_counter()
            llm.eval(tokens)
            llm.sample(temp=0.0)
            llm.eval([llm.token_eos()])
            times.append(time.perf_counter() - started)
        out[name] = {"first_token_ms": {"p50": pct(times, 0.5), "p95": pct(times, 0.95)}}
        del llm
    return out


def llamacpp_threads() -> int:
    from jupyter_chat_ext.engine.backends.llamacpp_native import default_threads

    return default_threads(None)  # what the server uses unless n_threads is set


def floor_weights(tmp: Path) -> dict[str, str]:
    """The packaged Q4_1 file and the Q8_0 copy the server runs."""
    from remote_fixtures import packaged_gguf

    return {"q4_1_file": str(packaged_gguf()), "q8_0_copy": str(served_weights(tmp))}


async def warm(http: Any, base: str, corpus: str, n: int) -> dict[str, Any]:
    """Typing with pauses: each request extends the previous prefix by the next few characters of
    the file and starts once the previous one is done (the provider after its debounce). The prompt
    shares all but its last tokens with the previous one: the engine's slot cache evaluates only those.
    """
    prefix = prefixes(corpus, 1000, 1, seed=11)[0]
    end = corpus.index(prefix) + len(prefix)
    results = []
    for i in range(n):
        results.append(await one(http, base, corpus[end - 1000 : end + 3 * (i + 1)]))
    firsts = [r["first_s"] for r in results if r["first_s"] is not None]
    totals = [r["total_s"] for r in results]
    return {
        "prefix_chars": 1000,
        "requests": n,
        "with_text": len(firsts),
        "first_token_ms": {"p50": pct(firsts, 0.5), "p95": pct(firsts, 0.95)},
        "full_line_ms": {"p50": pct(totals, 0.5), "p95": pct(totals, 0.95)},
    }


async def typing(http: Any, base: str, corpus: str, keystroke_s: float) -> dict[str, Any]:
    """Type one line a character at a time; each keystroke closes the request in flight."""
    prefix = prefixes(corpus, 1000, 1, seed=7)[0]
    end = corpus.index(prefix) + len(prefix)
    line = corpus[end : corpus.index("\n", end)] or "    return value"
    tasks: list[asyncio.Task[dict[str, Any]]] = []
    cancelled = 0
    for i in range(len(line) + 1):
        if tasks and not tasks[-1].done():
            tasks[-1].cancel()  # closes the HTTP stream: the server cancels the engine request
            cancelled += 1
        tasks.append(asyncio.ensure_future(one(http, base, prefix + line[:i])))
        await asyncio.sleep(keystroke_s)
    finished = await asyncio.gather(tasks[-1], return_exceptions=True)
    await asyncio.gather(*tasks, return_exceptions=True)
    completed = [t.result() for t in tasks if not t.cancelled() and t.exception() is None]
    firsts = [r["first_s"] for r in completed if r["first_s"] is not None]
    return {
        "keystrokes": len(tasks),
        "keystroke_ms": round(keystroke_s * 1000),
        "cancelled_in_flight": cancelled,
        "completed": len(completed),
        "completed_first_token_ms": {"p50": pct(firsts, 0.5), "p95": pct(firsts, 0.95)},
        "last_completion": finished[0]["done"].get("text") if isinstance(finished[0], dict) else None,
    }


async def engine_idle(http: Any, base: str, timeout: float = 30.0) -> dict[str, Any]:
    """The model's slots once the typing stopped: all free means every cancel reached the engine."""
    deadline = time.monotonic() + timeout
    info: dict[str, Any] = {}
    while time.monotonic() < deadline:
        info = (await http.get(f"{base}/chat-ext/models/{MODEL}")).json()
        if not info.get("active") and not info.get("queue_depth"):
            break
        await asyncio.sleep(0.1)
    return {
        "active": info.get("active"),
        "queue_depth": info.get("queue_depth"),
        "backend": info.get("backend"),
    }


async def run(server: JupyterServer, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    corpus = source_corpus()
    async with httpx.AsyncClient(headers=server.headers, timeout=300) as http:
        await one(http, server.base, "import os\n")  # warm-up: the model's first request
        out: dict[str, Any] = {}
        if "cold" in args.modes:
            out["latency"] = [
                await latency(http, server.base, corpus, n, args.requests) for n in (1000, 4000)
            ]
        if "focus" in args.modes:
            out["focus"] = [
                await focus(http, server.base, corpus, args.requests, float(t) / 1000)
                for t in args.think_ms.split(",")
            ]
        if "warm" in args.modes:
            out["warm_typing_with_pauses"] = await warm(http, server.base, corpus, args.requests)
        if "typing" in args.modes:
            out["typing"] = await typing(http, server.base, corpus, args.keystroke_ms / 1000)
            out["engine_after_typing"] = await engine_idle(http, server.base)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--keystroke-ms", type=float, default=80.0)
    parser.add_argument(
        "--modes", default="cold,focus,floor,warm,typing", help="which parts to run (comma-separated)"
    )
    parser.add_argument("--think-ms", default="500,1500", help="focus: pauses before typing (ms, comma list)")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra jupyter server option, e.g. --ChatExtApp.n_threads=1",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        server = JupyterServer(Path(tmp), "--ChatExtApp.backend=llamacpp", *args.server_arg)
        try:
            server.wait_ready()
            server.wait_model()
            started = time.perf_counter()
            result = asyncio.run(run(server, args))
        finally:
            server.stop()
        if "floor" in args.modes:  # after the server stopped: the CPU is this process's alone
            threads = llamacpp_threads()
            result["floor"] = floor(source_corpus(), args.requests, floor_weights(Path(tmp)), threads)
    cold = result.get("latency", [{}])[0].get("first_token_ms", {}).get("p50")
    cached = result.get("warm_typing_with_pauses", {}).get("first_token_ms", {}).get("p50")
    focused = {f["think_ms"]: f["first_token_ms"]["p50"] for f in result.get("focus", [])}
    floor_q8 = result.get("floor", {}).get("q8_0_copy", {}).get("first_token_ms", {}).get("p50")
    result.update(
        goal={
            "first_token_p50_ms_1k": 300,
            "met_cold": cold is not None and cold <= 300,
            "met_after_focus": {t: v is not None and v <= 300 for t, v in focused.items()},
            "met_cached_prefix": cached is not None and cached <= 300,
            "cold_over_bare_llama_cpp_floor": round(cold / floor_q8, 2) if cold and floor_q8 else None,
        },
        wall_s=round(time.perf_counter() - started, 1),
        load_avg_before=[round(x, 2) for x in load_before],
        load_avg_after=[round(x, 2) for x in os.getloadavg()],
        cpus=os.cpu_count(),
        server_args=args.server_arg,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
