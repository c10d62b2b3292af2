#!/usr/bin/env python
"""Replay jupyter-ai's real Jupyternaut turn against our /v1 (issue 21 item 5; prints JSON).

The request is the one bench/jupyter_ai_capture.py captured from jupyter-ai 3.2's own agent code
(bench/data/jupyter_ai_request.json: its system prompt, its 20 distinct tool schemas, ``stream``
with ``include_usage``, no ``max_tokens``, no ``tool_choice``, a ``cache_control`` key on the
system message). It is sent as captured with the official ``openai`` client, streamed, as
jupyter-ai's litellm does, to ``jupyter server`` running our extension on the packaged model.

A turn is what the Jupyternaut agent does with one chat message: while the answer is a tool call,
it appends the call and the tool's result (empty, as captured) and asks again, at most
``--steps`` requests. jupyter-ai shows only text deltas, so its "first token" is the first
``content`` delta of the turn (``first_text_s``), which after a tool call comes from the second
request. Per request: ``first_chunk_s`` (the role chunk: generation has started, the prompt is
read), ``first_delta_s`` (the first content or tool-call delta), ``total_s``, usage's
prompt/completion tokens, the finish reason. Cases: ``tools`` (the captured body),
``no_tools`` (the same messages without ``tools``: a shorter prompt, text only) and ``required``
(the captured body with ``tool_choice: "required"``, one request: how long a call under jupyter-ai's
real schemas takes to generate, constrained by their grammar).

``--followup``: after each tools turn, the captured follow-up (the request the agent sent after a
``get_active_notebook`` call, with the call and its empty result) goes to the same server: how
long the second request of a turn with a call waits for its first token, given what the first
request left in the prompt cache, and what it answers.

The first case of round 0 sends the body exactly as captured; every later case puts ``Session N.``
in front of the system prompt so no prompt prefix is reused from an earlier one.

``--before REV`` runs a second server from the package at git revision REV (bench_tool_stream's
``package_at``) beside the first and sends every turn to both in turn; ``--now REV`` runs the first
one from REV too (default: the working tree). ``--context-budget 8192`` is the issue's setting;
without it the KV pool grows on demand.

Measured (packaged 135M model, llama.cpp, 2 threads, load 2.0-2.2 on 2 shared cores, one round;
"now" = 7dd6bbf (the 'auto' KV lanes), seconds from the request; first = first content or
tool-call delta, chunk = first chunk of any kind):

=======================================  =====================  =====================
case (prompt tokens)                      context_budget 8192    no budget (pool grows)
=======================================  =====================  =====================
tools, as captured (7086): now            text at 34.6           text at 29.3
  before (aa6ba2e / a61f522)              text at 32.0           text at 31.8
follow-up after a call (7133): now        call at 1.50 (cached)  call at 1.49 (cached)
  before                                  nothing; 512 tokens,   call at 1.59
                                          length, chunk at 16.3
required call (7079): now                 call at 30.2, end 46.9 call at 33.9, end 50.3
  before                                  nothing; chunk at 49.0 nothing; chunk at 50.1
no tools (3698): now / before             text at 10.8 / 10.2    text at 11.2 / 11.4
=======================================  =====================  =====================

Reading is the same with and without tools at equal length: the captured prompt reads at 205-242
tok/s, the shorter no-tools one faster per token (attention grows with length). What doubles a
client's wait is a tool call's answer: jupyter-ai sends no ``max_tokens`` (ours: 512) and the 135M
model's call under its real schemas runs away (``list_all_commands`` with a 1,127-character query
string that never closes, 512 tokens, ``finish_reason: length``); before 9ca4a7c nothing at all,
not even the role chunk, was sent until generation ended, and a call cut at the length limit was
dropped, so the client waited read + 512 tokens of decoding (49-50 s against 32 s of reading
here) for an empty answer. Now the call's id and name come as soon as the prompt is read and its
arguments stream. The follow-up request of a turn reuses the first one's prompt from the KV cache
(1.5 s for 7,133 tokens). Greedy decoding (jupyter-ai sends no temperature) answers the captured
message in text: which turns start with a call depends on the message.

Usage: nice -n 10 .venv/bin/python bench/bench_jupyter_ai_replay.py [--rounds 1] [--steps 3]
       [--before a61f522] [--now HEAD] [--context-budget 8192] [--cases tools,no_tools]
       [--followup]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_server import TOKEN, JupyterServer
from bench_tool_stream import package_at, run_on, start

DATA = Path(__file__).resolve().parent / "data" / "jupyter_ai_request.json"


def first_body(captured: dict[str, Any], case: str, nonce: int, index: int = 0) -> dict[str, Any]:
    """Captured request ``index`` for ``case``; a nonzero nonce goes in front of the system prompt."""
    body = copy.deepcopy(captured["requests"][index]["body"])
    if case == "no_tools":
        body.pop("tools", None)
    elif case == "required":  # not what jupyter-ai sends: a call for sure, to time one under its schemas
        body["tool_choice"] = "required"
    if nonce:
        system = body["messages"][0]
        system["content"] = f"Session {nonce}.\n" + system["content"]
    return body


async def one(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    """One streamed request; what came, and when."""
    t0 = time.perf_counter()
    got: dict[str, Any] = {"first_chunk_s": None, "first_delta_s": None, "first_text_s": None}
    text, calls, finish, usage = "", {}, None, None
    stream = await client.chat.completions.create(**body)
    async for chunk in stream:
        now = time.perf_counter() - t0
        got["first_chunk_s"] = got["first_chunk_s"] or now
        usage = chunk.usage or usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content or delta.tool_calls:
                got["first_delta_s"] = got["first_delta_s"] or now
            if delta.content:
                got["first_text_s"] = got["first_text_s"] or now
                text += delta.content
            for call in delta.tool_calls or []:
                entry = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                entry["id"] = call.id or entry["id"]
                if call.function:
                    entry["name"] += call.function.name or ""
                    entry["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    got["total_s"] = time.perf_counter() - t0
    got.update(
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        finish_reason=finish,
        text=text[:200],
        tool_calls=[calls[i] for i in sorted(calls)],
    )
    return got


async def turn(client: Any, body: dict[str, Any], steps: int) -> dict[str, Any]:
    """Jupyternaut's loop: ask; while the answer is a call, append it and its (empty) result."""
    t0 = time.perf_counter()
    requests, first_text = [], None
    for _ in range(steps):
        sent = time.perf_counter() - t0
        got = await one(client, body)
        requests.append({k: round(v, 3) if isinstance(v, float) else v for k, v in got.items()})
        if first_text is None and got["first_text_s"] is not None:
            first_text = sent + got["first_text_s"]
        if got["finish_reason"] != "tool_calls" or not got["tool_calls"]:
            break
        calls = [
            {"type": "function", "id": c["id"], "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in got["tool_calls"]
        ]
        said = {"role": "assistant", "content": "", "tool_calls": calls}
        body = {**body, "messages": [*body["messages"], said]}
        body["messages"] += [{"role": "tool", "content": "", "tool_call_id": c["id"]} for c in calls]
    return {
        "first_text_s": round(first_text, 3) if first_text is not None else None,
        "turn_s": round(time.perf_counter() - t0, 3),
        "requests": requests,
    }


async def measure(servers: dict[str, JupyterServer], args: argparse.Namespace) -> dict[str, Any]:
    import openai

    captured = json.loads(DATA.read_text())
    clients = {
        label: openai.AsyncOpenAI(base_url=f"{server.base}/chat-ext/v1", api_key=TOKEN, timeout=1800)
        for label, server in servers.items()
    }
    model = captured["requests"][0]["body"]["model"]
    for client in clients.values():  # warm-up: lazy imports (a short prompt sharing no prefix)
        await one(client, {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2,
                           "stream": True})  # fmt: skip
    out: dict[str, Any] = {label: {} for label in clients}
    nonce = 0
    for round_no in range(args.rounds):
        for case in args.cases.split(","):
            body = first_body(captured, case, nonce)
            for label, client in clients.items():
                load = os.getloadavg()[0]
                got = await turn(client, body, 1 if case == "required" else args.steps)
                if case == "tools" and args.followup:  # the agent's next request had it been a call
                    then = await one(client, first_body(captured, case, nonce, index=1))
                    got["followup"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in then.items()}
                out[label].setdefault(case, []).append({"round": round_no, "load_1min": load, **got})
            nonce += 1  # the next case shares no prompt prefix with this one
    for client in clients.values():
        await client.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3, help="requests a turn may make (tool call, then again)")
    ap.add_argument("--cases", default="tools,no_tools")
    ap.add_argument(
        "--followup",
        action="store_true",
        help="after each tools turn, send the captured follow-up (a get_active_notebook call and its result)",
    )
    ap.add_argument("--n-threads", type=int, default=2)
    ap.add_argument("--before", default=None, help="a git revision to compare with (same run)")
    ap.add_argument("--now", default=None, help="run 'now' from this revision (default: the work tree)")
    ap.add_argument("--context-budget", type=int, default=0, help="the servers' context_budget (0: none)")
    args = ap.parse_args()
    out: dict[str, Any] = {"benchmark": "jupyter_ai_replay", "load_before": os.getloadavg(), **vars(args)}
    repo = Path(__file__).resolve().parents[1]
    for key in ("now", "before"):  # the commits the revisions named (the work tree: HEAD + edits)
        rev = getattr(args, key) or ("HEAD" if key == "now" else None)
        if rev:
            out[f"{key}_commit"] = subprocess.run(
                ["git", "-C", str(repo), "rev-parse", "--short", rev], capture_output=True, text=True
            ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-jai-replay-") as d:
        tmp = Path(d)
        now_code = package_at(args.now, tmp / "now-code") if args.now else None
        servers = {"now": start(tmp / "now", args, now_code)}
        if args.before:
            servers["before"] = start(tmp / "before", args, package_at(args.before, tmp / "before-code"))
        out["cases"] = run_on(servers, lambda: measure(servers, args))
    out["load_after"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
