#!/usr/bin/env python
"""Time to the first streamed chunk of /v1/chat/completions, with and without tools (prints JSON).

Issue 21 item 5: jupyter-ai saw its first token ~2x later with ~30 tool schemas in a 7k prompt
than without. Reading the prompt costs the same at equal token counts (bench_prompt_read.py); what
differs is the answer: a tool call used to stream nothing until the whole call was generated and
parsed, so a client's "first token" was the end of the call. This measures, over HTTP with the
official ``openai`` client (stream=True), on the packaged model served by ``jupyter server``:

- ``first_chunk_s``: the first chunk at all (the role chunk, sent when generation starts);
- ``first_delta_s``: the first chunk that carries content or a tool call (what a client shows);
- ``last_delta_s`` / ``total_s``: the last such chunk, and the ``[DONE]`` frame;

for the same prompt length (tools' schemas counted) answered as text (no tools), as a required
tool call (``tool_choice: "required"``: always a call) and with ``tool_choice: "auto"`` (the
model decides; the row says what it did). Every request has its own nonce: nothing is reused from
the prompt cache. ``head_before_end_s`` is how long before the end of the answer its first delta
came: 0 when a call arrives whole.

Measured (packaged 135M model, llama.cpp, 2 threads, both servers in one run, ``--before a61f522``,
the commit before the fix; medians; seconds from the request):

=======================================  ==================  ==================
case (prompt tokens)                      before: 1st delta   now: 1st delta
=======================================  ==================  ==================
2k, 3 rounds, load 2.6: text (1921)        4.36 (end 5.14)     5.40 (end 6.59)
2k: required call (1993)                   4.98 (= end)        4.20 (end 6.28)
7k, 1 round, load 1.1-2.0: text (6715)    33.05 (end 37.05)   35.88 (end 39.69)
7k: required call (6850)                  36.38 (= end)       35.04 (end 35.82)
=======================================  ==================  ==================

Before, a call's first delta was its end (one delta, 1 chunk); now the id and name come as soon
as the name is written and the arguments follow in 19-24 pieces. Prompt reading is the same with
and without tools at equal length (~190 tok/s at 7k here). On this 135M model a call is short
(~0.4-0.8 s of decoding even at 7k), so the gain is small; it grows with the call's length and the
model's size (a call that runs to max_tokens used to stream nothing at all).

``--before REV`` runs a second server from the package as it was at git revision REV (extracted
with ``git archive``, put first on PYTHONPATH) and sends each request to both in turn, so the two
are compared under the same load.

Usage: nice -n 10 .venv/bin/python bench/bench_tool_stream.py [--tokens 2000] [--rounds 3]
       [--max-tokens 48] [--n-threads 2] [--before REV] [--context-budget 8192]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent_prompts import TOKENS_PER_TOOL, agent_tools, messages_of
from bench_server import MODEL, TOKEN, JupyterServer, llamacpp_server

ASK = " Read the file data/sites.csv with the right tool."


def prompts(size: int, rounds: int, n_threads: int, tmp: Path) -> list[dict[str, Any]]:
    """Per round and case, messages whose rendered prompt is about ``size`` tokens."""
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.engine.structured import Structured
    from jupyter_chat_ext.settings import Settings

    eng = Engine(Settings(data_dir=tmp / "tok", n_threads=n_threads, backend="llamacpp"))
    model = eng.resolve(None)
    eng.load(model)
    tools = agent_tools(max(1, min(30, int(size * 0.8 / TOKENS_PER_TOOL))))
    spec = Structured.from_openai({"tools": tools, "tool_choice": "auto"})
    out, nonce = [], 5000
    try:
        for _ in range(rounds):
            for case, structured in (("text", None), ("required", spec), ("auto", spec)):
                nonce += 1
                msgs = messages_of(eng, model, size, nonce, structured)
                msgs[-1]["content"] += ASK
                tokens = len(eng.prompt_ids(model, msgs, structured=structured))
                extra = {} if structured is None else {"tools": tools, "tool_choice": case}
                out.append({"case": case, "messages": msgs, "extra": extra, "prompt_tokens": tokens})
    finally:
        eng.close()
    return out


async def one(client: Any, item: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    first_chunk = first_delta = last_delta = None
    content, calls, finish = "", 0, None
    stream = await client.chat.completions.create(
        model=MODEL,
        messages=item["messages"],
        max_tokens=max_tokens,
        temperature=0,
        seed=7,
        stream=True,
        **item["extra"],
    )
    async for chunk in stream:
        now = time.perf_counter() - t0
        first_chunk = first_chunk if first_chunk is not None else now
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content or delta.tool_calls:
                first_delta = first_delta if first_delta is not None else now
                last_delta = now
            content += delta.content or ""
            calls += len(delta.tool_calls or [])
            finish = choice.finish_reason or finish
    return {
        "first_chunk_s": first_chunk,
        "first_delta_s": first_delta,
        "last_delta_s": last_delta,
        "total_s": time.perf_counter() - t0,
        "tool_call_deltas": calls,
        "finish_reason": finish,
        "text_chars": len(content),
    }


def median(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r[key] is not None]
    return round(statistics.median(values), 3) if values else None


async def measure(
    servers: dict[str, JupyterServer], items: list[dict[str, Any]], max_tokens: int
) -> dict[str, Any]:
    import openai

    clients = {
        label: openai.AsyncOpenAI(base_url=f"{server.base}/chat-ext/v1", api_key=TOKEN, timeout=600)
        for label, server in servers.items()
    }
    for client in clients.values():  # warm-up: lazy imports, the grammar tokenizer
        await one(client, items[1], 4)
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {label: {} for label in clients}
    for item in items:  # one request at a time; each goes to every server in turn
        for label, client in clients.items():
            got = await one(client, item, max_tokens)
            got["head_before_end_s"] = got["total_s"] - (got["first_delta_s"] or got["total_s"])
            rows[label].setdefault(item["case"], []).append({**got, "prompt_tokens": item["prompt_tokens"]})
    for client in clients.values():
        await client.close()
    keys = ("first_chunk_s", "first_delta_s", "last_delta_s", "total_s", "head_before_end_s")
    return {
        label: {
            case: {
                "prompt_tokens": cell[0]["prompt_tokens"],
                **{k: median(cell, k) for k in keys},
                "finish_reasons": sorted({str(r["finish_reason"]) for r in cell}),
                "rows": [
                    {k: r[k] if not isinstance(r[k], float) else round(r[k], 3) for k in ROW} for r in cell
                ],
            }
            for case, cell in by_case.items()
        }
        for label, by_case in rows.items()
    }


ROW = ("first_delta_s", "total_s", "tool_call_deltas", "finish_reason")


def package_at(rev: str, dest: Path) -> Path:
    """The package as it was at ``rev`` (git archive), a folder to put first on PYTHONPATH."""
    dest.mkdir(parents=True)
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", rev, "jupyter_chat_ext"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def start(root: Path, args: argparse.Namespace, pythonpath: Path | None = None) -> JupyterServer:
    saved = os.environ.get("PYTHONPATH")
    if pythonpath is not None:
        os.environ["PYTHONPATH"] = str(pythonpath)
    try:
        budget = [f"--ChatExtApp.context_budget={args.context_budget}"] if args.context_budget else []
        return llamacpp_server(root, args.n_threads, *budget)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


def run_on(servers: dict[str, JupyterServer], work: Any) -> Any:
    """Wait until every server has its model, run ``work()`` (a coroutine) to its end, stop them all."""
    try:
        for server in servers.values():
            server.wait_ready()
            server.wait_model()
        return asyncio.run(work())
    finally:
        for server in servers.values():
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=2000, help="prompt length, tool schemas included")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--n-threads", type=int, default=2)
    ap.add_argument("--before", default=None, help="a git revision to compare with (same run)")
    ap.add_argument("--context-budget", type=int, default=0, help="the servers' context (7k prompts: 8192)")
    args = ap.parse_args()
    out: dict[str, Any] = {"benchmark": "tool_stream", "load_before": os.getloadavg(), **vars(args)}
    with tempfile.TemporaryDirectory(prefix="bench-tool-stream-") as d:
        tmp = Path(d)
        items = prompts(args.tokens, args.rounds, args.n_threads, tmp)
        servers = {"now": start(tmp / "now", args)}
        if args.before:
            old = package_at(args.before, tmp / "before-code")
            servers["before"] = start(tmp / "before", args, old)
        out["cases"] = run_on(servers, lambda: measure(servers, items, args.max_tokens))
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
