#!/usr/bin/env python
"""Aggregate tokens/s at 1, 4 and 8 concurrent chats: ours (/chat-ext/v1) vs `transformers serve`.

Both servers serve the same weights (the engine's converted HF-format cache dir of the packaged
SmolLM2-135M, bfloat16, CPU) and are driven by the same official ``openai`` AsyncOpenAI client with
streaming requests (greedy, ``max_tokens`` each). Tokens are counted by re-tokenizing each answer
with the model's tokenizer, so both sides count the same way. Both servers are up together but
only one is driven at a time: rounds alternate between them, so that CPU contention from other
work hits both alike. Goal: ours >= theirs at 4 and 8 concurrent chats.

`transformers serve` runs from its own venv (default /work/main/.cache/tserve-venv: torch==2.13.0,
"transformers[serving]==5.23.0", openai) with --continuous-batching --cb-num-blocks 16
--cb-max-batch-tokens 1024 (see TOOLCHAIN.md).

Usage: .venv/bin/python bench/bench_vs_transformers_serve.py [--tokens 64] [--rounds 2]
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
from bench_server import MODEL, REPO, TOKEN, JupyterServer, free_port, stop_process

OPTS: dict[str, Any] = {"max_retries": 0, "timeout": 600}
PROMPTS = [
    "Write a long story about a lighthouse keeper.",
    "Explain in detail how a bicycle works.",
    "Describe a walk through a busy city market.",
    "Write a long letter to a friend about a holiday by the sea.",
    "Explain how bread is baked, step by step.",
    "Tell a long fairy tale about a clever fox.",
    "Describe the life cycle of a butterfly in detail.",
    "Write a long diary entry of an astronaut on the moon.",
]


def model_dir() -> Path:
    cache = Path(os.environ.get("JUPYTER_CHAT_EXT_MODEL_CACHE", REPO / ".cache" / "models"))
    found = sorted(
        p.parent
        for p in cache.glob(f"{MODEL}-*/config.json")
        if json.loads(p.read_text()).get("dtype", json.loads(p.read_text()).get("torch_dtype")) == "bfloat16"
    )
    if not found:
        raise SystemExit(f"no bfloat16 conversion of {MODEL} in {cache}: load it through the engine once")
    return found[0]


class TransformersServe:
    def __init__(self, venv: Path, path: Path, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        cmd = [
            str(venv / "bin" / "transformers"),
            "serve",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--device",
            "cpu",
            "--dtype",
            "bfloat16",
            "--continuous-batching",
            "--cb-num-blocks",
            "16",
            "--cb-max-batch-tokens",
            "1024",
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def stop(self) -> None:
        stop_process(self.proc, self.log)


async def one_chat(client: Any, model: str, prompt: str, max_tokens: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    first = None
    parts: list[str] = []
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=max_tokens,
        temperature=0,
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if first is None:
                first = time.perf_counter()
            parts.append(chunk.choices[0].delta.content)
    return {"text": "".join(parts), "ttft_s": (first or time.perf_counter()) - t0}


async def one_round(client: Any, model: str, tokenizer: Any, n: int, r: int, max_tokens: int) -> dict:
    """n concurrent chats; aggregate tokens/s = all answer tokens / wall time of the round."""
    prompts = [PROMPTS[(i + r) % len(PROMPTS)] for i in range(n)]
    t0 = time.perf_counter()
    results = await asyncio.gather(*(one_chat(client, model, p, max_tokens) for p in prompts))
    wall = time.perf_counter() - t0
    count = sum(len(tokenizer(res["text"], add_special_tokens=False)["input_ids"]) for res in results)
    return {"rate": count / wall, "tokens": count, "ttfts": [res["ttft_s"] for res in results]}


def summarize(runs: list[dict]) -> dict[str, Any]:
    return {
        "aggregate_tokens_per_s": round(statistics.mean(r["rate"] for r in runs), 2),
        "runs_tokens_per_s": [round(r["rate"], 2) for r in runs],
        "tokens_per_run": [r["tokens"] for r in runs],
        "ttft_s_mean": round(statistics.mean(t for r in runs for t in r["ttfts"]), 3),
    }


async def drive(
    sides: dict[str, tuple[Any, str]], tokenizer: Any, levels: list[int], rounds: int, max_tokens: int
):
    """Alternate the servers round by round, so that changing CPU contention hits both alike."""
    for client, model in sides.values():
        await one_chat(client, model, "Hello", 4)  # warm-up
    runs: dict[str, dict[str, list]] = {name: {str(n): [] for n in levels} for name in sides}
    for n in levels:
        for r in range(rounds):
            for name, (client, model) in sides.items():
                runs[name][str(n)].append(await one_round(client, model, tokenizer, n, r, max_tokens))
    return {name: {n: summarize(v) for n, v in per.items()} for name, per in runs.items()}


async def wait_tserve(client: Any, model: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("transformers serve exited")
        try:
            await one_chat(client, model, "Hi", 2)
            return
        except Exception:
            await asyncio.sleep(1.0)
    raise RuntimeError("transformers serve did not answer")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levels", default="1,4,8")
    parser.add_argument("--tserve-venv", default=str(REPO / ".cache" / "tserve-venv"))
    parser.add_argument("--skip-theirs", action="store_true")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    import openai
    from transformers import AutoTokenizer

    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    out: dict[str, Any] = {
        "benchmark": "ours_vs_transformers_serve",
        "model_dir": str(path),
        "max_tokens": args.tokens,
        "rounds": args.rounds,
        "cpu_count": os.cpu_count(),
        "loadavg_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="bench-vs-tserve-") as tmp_name:
        tmp = Path(tmp_name)
        ours = JupyterServer(
            tmp / "ours",
            "--ChatExtApp.dtype=bfloat16",
            "--ChatExtApp.device=cpu",
            "--ChatExtApp.max_batch_size=8",
            "--ChatExtApp.preload_default_model=True",
        )
        theirs = (
            None if args.skip_theirs else TransformersServe(Path(args.tserve_venv), path, tmp / "tserve.log")
        )
        try:
            ours.wait_ready()
            ours.wait_model()
            sides = {
                "ours": (
                    openai.AsyncOpenAI(base_url=f"{ours.base}/chat-ext/v1", api_key=TOKEN, **OPTS),
                    MODEL,
                )
            }
            if theirs is not None:
                sides["transformers_serve"] = (
                    openai.AsyncOpenAI(base_url=theirs.base_url, api_key="-", **OPTS),
                    str(path),
                )

            async def run() -> dict:
                if theirs is not None:
                    await wait_tserve(sides["transformers_serve"][0], str(path), theirs.proc)
                return await drive(sides, tokenizer, levels, args.rounds, args.tokens)

            out.update(asyncio.run(run()))
        finally:
            ours.stop()
            if theirs is not None:
                theirs.stop()
        if "transformers_serve" in out:
            out["ratio_ours_over_theirs"] = {
                n: round(
                    out["ours"][n]["aggregate_tokens_per_s"]
                    / out["transformers_serve"][n]["aggregate_tokens_per_s"],
                    3,
                )
                for n in out["ours"]
            }
    out["goal"] = "ours >= theirs at 4 and 8 concurrent chats"
    out["loadavg_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
