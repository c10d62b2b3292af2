#!/usr/bin/env python
"""Prompt reading (prefill) at agent-client sizes, with and without tools (prints JSON).

Agent clients (jupyter-ai's persona: ~30 tool schemas) send 7k-token prompts. This measures the
time from request to the first sampled token with ``max_tokens`` 1 at ~1k / 4k / 7k prompt tokens,
with tool schemas filling most of the prompt (``tools``, tool_choice auto) and without (plain text
of the same length), for our engine and for llama.cpp's own ``llama-server`` reading the very same
text (our rendered prompt, ``/completion``, ``cache_prompt`` off) on the same GGUF, in the same
run. Without a llama-server binary, bare llama-cpp-python (``Llama.eval``) is the reference. Every
request starts with a fresh nonce, so no prompt prefix is reused from a cache.

Our side is either this process's engine (``--via engine``, which also times the request's own
steps, render + tokenize and grammar compile, and keeps a cProfile of one tool-bearing request) or
``--via v1``: as a client meets it, a fresh ``jupyter server`` with the extension per launch, sent
the messages, tools included, at ``/chat-ext/v1/chat/completions``; this process then only renders
the text llama-server reads. ``--tools jupyter-ai`` uses the schemas jupyter-ai 3.2 really sends
(bench/data/jupyter_ai_request.json, 20 tools, ~3.4k tokens) instead of the synthetic ones.

How the ratio is measured. Within a round ours and the reference read the same shape back to
back, the order alternating by round and by launch; ``ratio_paired`` is the median of the rounds'
own ratios (``round_ratios``), since this VM's speed drifts by 15-20 % over minutes. And one
process keeps its own pace: the matrix work of a 7k read costs the same from one process to the
next (first 512-token batch 0.71-0.86 s), the attention over the cells already read does not (the
13th batch 3.1-3.9, 3.9-4.3, 4.4-4.7 s in three processes), on either side. So ``--launches N``
loads both sides afresh N times and pools every launch's rounds; one launch's ratio says little.

Measured through ``--via v1`` (packaged model's Q8_0 copy, 2 threads, llama-server b11434's own
-b 2048 -ub 512), tools / plain, paired, twelve single-round launches pooled (2026-12-07): 4k
0.977 / 1.008, 7k 0.992 / 1.038, single rounds 0.79-1.24; 1k over four launches 0.902 / 0.976.
A model's first tool-bearing request builds the grammar's view of the vocabulary once (0.24 s,
+21 MB on the packaged model): the warm-up sends a tool so no launch times it. Earlier figures,
in-process ones included, and what was ruled out: docs/architecture.md ("Reading 7k-token
prompts"), bench/data/issue21_prompt_read_paired.json, bench/data/llama_b11434_figures.json.

Usage: .venv/bin/python bench/bench_prompt_read.py [--gguf FILE] [--sizes 1000,4000,7000]
       [--rounds 2] [--launches 1] [--via engine|v1] [--llama-server PATH] [--n-threads 2]
       [--tools synthetic|jupyter-ai]
       [--forget-idle] [--ls-batch "-b 512 -ub 512" (ours: n_batch = n_ubatch = 512)
       | "" (llama-server's own -b 2048 -ub 512)]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from agent_prompts import agent_tools, messages_of, tool_set  # bench/ is on the path (line above)
from llama_anchor import LlamaServerAnchor


def idle_cached(eng: Any, model: str, forget: bool) -> int:
    """Cells idle slots hold (cached prompts, llama.cpp backend); ``forget``: drop them, so the
    read starts from an empty pool as llama-server -np 1 with ``cache_prompt`` off does."""
    held = 0
    for lane in getattr(getattr(eng.runtime(model), "loop", None), "lanes", []):
        for slot in lane.slots:
            if slot.req is None and slot.cached:
                held += len(slot.cached)
                if forget:
                    lane.forget(slot)
    return held


def engine_read(eng: Any, model: str, msgs: list[dict[str, str]], structured: Any) -> dict[str, float]:
    rt = eng.runtime(model)
    t0 = time.perf_counter()
    ids = eng.prompt_ids(model, msgs, structured=structured)
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if structured is not None:
        rt.structured_run(structured)
    grammar_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    done = eng.generate(model, msgs, {"max_tokens": 1, "temperature": 0}, structured=structured)
    wall = time.perf_counter() - t0
    m = done["metrics"]
    assert m.get("cached_prompt_tokens", 0) < 16, m  # nothing reused: a real read
    return {
        "tokens": len(ids),
        "wall_s": wall,
        "tok_s": len(ids) / wall,
        "render_tokenize_s": render_s,
        "grammar_s": grammar_s,
    }


class Anchor(LlamaServerAnchor):
    """llama-server on the same GGUF (-np 1 -c 8192: one long prompt), fed our rendered text.

    ``batch``: its -b/-ub; empty means llama-server's defaults (-b 2048 -ub 512 today)."""

    def __init__(self, binary: str, gguf: Path, threads: int, tmp: Path, batch: str = "") -> None:
        super().__init__(Path(binary), tmp, threads, gguf, layout=["-np", "1", "-c", "8192", *batch.split()])
        self.wait_ready()

    def read(self, text: str) -> dict[str, float]:
        import httpx

        body = {"prompt": text, "n_predict": 1, "cache_prompt": False, "temperature": 0}
        t0 = time.perf_counter()
        got = httpx.post(f"http://127.0.0.1:{self.port}/completion", json=body, timeout=900).json()
        wall = time.perf_counter() - t0
        tim = got.get("timings") or {}
        n = int(tim.get("prompt_n") or got.get("tokens_evaluated") or 0)
        return {
            "tokens": n,
            "wall_s": wall,
            "tok_s": n / wall,
            "server_prompt_tok_s": tim.get("prompt_per_second"),
        }


class Served:
    """Our engine as a client meets it (``--via v1``): a fresh ``jupyter server`` with the extension,
    read through its OpenAI-compatible ``/v1/chat/completions`` (``max_tokens`` 1, not streamed),
    so both sides are single-purpose processes started for the launch and timed by one client."""

    def __init__(self, root: Path, threads: int, model: str, gguf: Path | None) -> None:
        from bench_server import llamacpp_server

        extra = []
        if gguf is not None:
            extra = [
                f"--ChatExtApp.model_dirs={json.dumps([str(gguf.parent)])}",
                f"--ChatExtApp.default_model={model}",
                "--ChatExtApp.scan_hf_cache=False",
            ]
        self.model = model
        self.server = llamacpp_server(root, threads, *extra)
        try:
            self.server.wait_ready()
            self.server.wait_model(model)
        except BaseException:
            self.server.stop()
            raise

    def read(self, msgs: list[dict[str, str]], tools: list[dict[str, Any]] | None) -> dict[str, float]:
        import httpx

        body: dict[str, Any] = {"model": self.model, "messages": msgs, "max_tokens": 1, "temperature": 0}
        if tools:
            body |= {"tools": tools, "tool_choice": "auto"}
        url, headers = f"{self.server.base}/chat-ext/v1/chat/completions", self.server.headers
        t0 = time.perf_counter()
        r = httpx.post(url, json=body, headers=headers, timeout=900)
        wall = time.perf_counter() - t0
        r.raise_for_status()
        n = int(r.json()["usage"]["prompt_tokens"])
        return {"tokens": n, "wall_s": wall, "tok_s": n / wall}

    def stop(self) -> None:
        self.server.stop()


class Bare:
    """Bare llama-cpp-python reading the same tokens (the reference without llama-server)."""

    def __init__(self, gguf: Path, threads: int) -> None:
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(gguf), n_ctx=8192, n_batch=512, n_ubatch=512, n_threads=threads,
                         verbose=False)  # fmt: skip

    def read(self, text: str) -> dict[str, float]:
        ids = self.llm.tokenize(text.encode(), add_bos=False, special=True)
        self.llm.reset()
        t0 = time.perf_counter()
        self.llm.eval(ids)
        wall = time.perf_counter() - t0
        return {"tokens": len(ids), "wall_s": wall, "tok_s": len(ids) / wall}

    def stop(self) -> None:
        self.llm.close()


def launch_reads(
    args: argparse.Namespace,
    settings: Any,
    gguf: Path,
    tmp: Path,
    rows: dict[str, dict[str, list[dict[str, float]]]],
    nonce: int,
    out: dict[str, Any] | None,
    flip: bool = False,
) -> None:
    """One launch: our engine loaded fresh beside a fresh reference, every size's rounds read into
    ``rows``; with ``out``, a profiled tools request and the engine's stats go there too.
    ``flip``: the reference reads first in even rounds (so single-round launches alternate too)."""
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.engine.structured import Structured

    sizes = [int(s) for s in args.sizes.split(",")]
    with contextlib.ExitStack() as stack:  # the reference stops, then the engine closes, whatever fails
        eng = Engine(settings)
        stack.callback(eng.close)
        model = settings.default_model
        eng.load(model)
        ref: Anchor | Bare = (
            Anchor(args.llama_server, gguf, args.n_threads, tmp, args.ls_batch)
            if args.llama_server
            else Bare(gguf, args.n_threads)
        )
        stack.callback(ref.stop)
        served: Served | None = None
        if args.via == "v1":  # our side is a server of its own; this engine only renders prompts
            served = Served(tmp / f"served-{nonce}", args.n_threads, model, gguf if args.gguf else None)
            stack.callback(served.stop)
            # warm-up: lazy imports, the first decode, and what the first tool-bearing request
            # builds once per model (the grammar's view of the vocabulary: ~0.25 s here), as the
            # in-process side builds it outside its timing
            served.read([{"role": "user", "content": "Hi"}], agent_tools(1))
        else:
            eng.generate(model, [{"role": "user", "content": "Hi"}], {"max_tokens": 1})  # warm-up
        for size in sizes:
            # 30 of these tools are ~3.7k tokens: a smaller prompt carries fewer (most of it)
            schemas = tool_set(args.tools, size)
            tools = Structured.from_openai({"tools": schemas, "tool_choice": "auto"})
            for rnd in range(args.rounds):
                for label, structured in (("tools", tools), ("plain", None)):
                    cell = rows.setdefault(f"{size}/{label}", {"ours": [], "reference": []})
                    # the order alternates by round: this VM's speed drifts by minutes, so
                    # whoever always read first would carry the drift (the paired ratio)
                    first_ours = (rnd + flip) % 2 == 0
                    for side in ("ours", "reference") if first_ours else ("reference", "ours"):
                        nonce += 1  # each read has its own nonce: nothing cached
                        msgs = messages_of(eng, model, size, nonce, structured)
                        if side == "ours" and served is not None:
                            got = {**served.read(msgs, schemas if structured else None), "idle_cells": -1}
                        elif side == "ours":
                            idle = idle_cached(eng, model, args.forget_idle)
                            got = {**engine_read(eng, model, msgs, structured), "idle_cells": idle}
                        else:
                            got = ref.read(eng.render_prompt(model, msgs, structured=structured))
                        cell[side].append(got)
        if out is None or served is not None:
            return
        prof = cProfile.Profile()
        tools = Structured.from_openai({"tools": tool_set(args.tools, sizes[-1]), "tool_choice": "auto"})
        msgs = messages_of(eng, model, sizes[-1], nonce + 1, tools)
        prof.enable()
        eng.generate(model, msgs, {"max_tokens": 1, "temperature": 0}, structured=tools)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(12)
        out["profile_tools_request"] = [ln for ln in buf.getvalue().splitlines() if ln.strip()][:30]
        out["engine_stats"] = eng.stats()[model]


def step_ms(rows: list[dict[str, float]], key: str) -> float | None:
    """The median of one timed step of our reads, in ms; None where the reads did not time it."""
    return round(1000 * statistics.median(r[key] for r in rows), 1) if all(key in r for r in rows) else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=None, help="a GGUF file (default: the packaged model, as served)")
    ap.add_argument("--sizes", default="1000,4000,7000")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--launches", type=int, default=1, help="fresh engine + reference this many times")
    ap.add_argument("--n-threads", type=int, default=2)
    ap.add_argument("--llama-server", default=os.environ.get("LLAMA_SERVER"))
    ap.add_argument("--tools", choices=("synthetic", "jupyter-ai"), default="synthetic")
    ap.add_argument(
        "--via",
        choices=("engine", "v1"),
        default="engine",
        help="ours in this process, or a fresh jupyter server's /v1 per launch (as clients reach it)",
    )
    ap.add_argument("--forget-idle", action="store_true", help="drop idle slots' cached KV before each read")
    ap.add_argument("--ls-batch", default="-b 512 -ub 512", help="llama-server's -b/-ub ('': its defaults)")
    args = ap.parse_args()
    from jupyter_chat_ext.settings import Settings

    sizes = [int(s) for s in args.sizes.split(",")]
    out: dict[str, Any] = {
        "sizes": sizes,
        "rounds": args.rounds,
        "launches": args.launches,
        "tools": args.tools,
        "forget_idle": args.forget_idle,
        "via": args.via,
    }
    out["load_before"] = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if args.gguf:
            gguf = Path(args.gguf).resolve()
            settings = Settings(
                data_dir=tmp / "data",
                model_dirs=[gguf.parent],
                scan_hf_cache=False,
                default_model=gguf.stem.lower(),
                n_threads=args.n_threads,
                backend="llamacpp",
            )
        else:
            from bench_server import served_weights

            gguf = served_weights(tmp)
            settings = Settings(data_dir=tmp / "data", n_threads=args.n_threads, backend="llamacpp")
        out["gguf"] = gguf.name
        out["reference"] = f"llama-server {args.ls_batch}" if args.llama_server else "bare llama-cpp-python"
        rows: dict[str, dict[str, list[dict[str, float]]]] = {}
        for launch in range(args.launches):
            # a fresh engine and reference each launch: one process may keep its own pace for
            # minutes (two identical llama-servers differed by up to 1.08 on a launch's median)
            last = out if launch == args.launches - 1 else None
            launch_reads(args, settings, gguf, tmp, rows, 1000 * (launch + 1), last, flip=launch % 2 == 1)
    table: dict[str, Any] = {}
    for key, cell in rows.items():
        ours = statistics.median(r["tok_s"] for r in cell["ours"])
        theirs = statistics.median(r["tok_s"] for r in cell["reference"])
        per_round = [a["tok_s"] / b["tok_s"] for a, b in zip(cell["ours"], cell["reference"], strict=True)]
        table[key] = {
            "tokens": cell["ours"][0]["tokens"],
            "reference_tokens": cell["reference"][0]["tokens"],
            "ours_tok_s": round(ours, 1),
            "reference_tok_s": round(theirs, 1),
            "ratio": round(ours / theirs, 3),
            # each round's own ratio (two reads minutes apart at most), then their median
            "round_ratios": [round(r, 3) for r in per_round],
            "ratio_paired": round(statistics.median(per_round), 3),
            # in-process only (--via v1 times them inside the server's request)
            "render_tokenize_ms": step_ms(cell["ours"], "render_tokenize_s"),
            "grammar_ms": step_ms(cell["ours"], "grammar_s"),
            # every round's read in order: the first one at a size may include the pool's growth
            "ours_wall_s": [round(r["wall_s"], 2) for r in cell["ours"]],
            "reference_wall_s": [round(r["wall_s"], 2) for r in cell["reference"]],
            "idle_cells_before": [r["idle_cells"] for r in cell["ours"]],
        }
    out["prompt_read"] = table
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
