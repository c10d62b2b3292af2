"""Chat turns: what checkpointing costs, and how free the event loop stays over a huge history.

Prints one JSON object:
- ``tok_s_checkpointed`` / ``tok_s_plain``: median single-stream decode speed of whole turns with
  checkpoints every ~1 s (the default) and with checkpoints off, runs alternated; ``cost_pct`` is
  the difference (issue 12 goal: <= 2 %);
- ``loop_lag_max_s``: the worst delay of a 10 ms ticker while one turn runs over a history with a
  10 MB message and 120 messages without stored token counts (store and tokenizer work run on
  worker threads, so this stays small).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/bench_turns.py [--runs 3] [--tokens 128]
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# share the tests' model-conversion cache (a GGUF converted for transformers once, reused)
os.environ.setdefault("JUPYTER_CHAT_EXT_MODEL_CACHE", str(REPO / ".cache" / "models"))

from jupyter_chat_ext.chat.service import ChatService  # noqa: E402
from jupyter_chat_ext.engine.engine import Engine  # noqa: E402
from jupyter_chat_ext.settings import Settings  # noqa: E402
from jupyter_chat_ext.store.store import Store  # noqa: E402

PROMPT = "Write a long story about a dragon who learns to bake bread."


async def one_turn(svc: ChatService, tokens: int) -> dict[str, Any]:
    s = await asyncio.to_thread(svc.create_session)
    params = {"max_tokens": tokens, "temperature": 0}
    done: dict[str, Any] = {}
    async for event in svc.chat(s["id"], PROMPT, params):
        done = event
    return done


async def loop_lag(svc: ChatService) -> float:
    s = await asyncio.to_thread(svc.create_session)

    def fill() -> None:
        svc.store.add_message(s["id"], "user", "lorem ipsum dolor sit amet " * 400_000)
        svc.store.add_message(s["id"], "assistant", "Noted.")
        for i in range(60):
            svc.store.add_message(s["id"], "user", f"Question {i}: " + "tell me about rivers " * 120)
            svc.store.add_message(s["id"], "assistant", f"Answer {i}: " + "rivers flow to the sea " * 100)

    await asyncio.to_thread(fill)
    worst = 0.0

    async def ticker() -> None:
        nonlocal worst
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            worst = max(worst, time.perf_counter() - before - 0.01)

    task = asyncio.create_task(ticker())
    async for _ in svc.chat(s["id"], "Summarise our talk.", {"max_tokens": 8}):
        pass
    task.cancel()
    return worst


async def main(runs: int, tokens: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        engine = Engine(settings)
        await asyncio.to_thread(engine.load, settings.default_model)
        svc = ChatService(Store(settings.db_path), engine, settings)
        try:
            await one_turn(svc, 8)  # warm-up
            speeds: dict[str, list[float]] = {"checkpointed": [], "plain": []}
            for _ in range(runs):
                for kind, interval in (("checkpointed", None), ("plain", float("inf"))):
                    svc.turns.checkpoint_interval = interval
                    done = await one_turn(svc, tokens)
                    speeds[kind].append(done["metrics"]["tokens_per_s"])
                    print(f"{kind}: {speeds[kind][-1]:.1f} tok/s", file=sys.stderr, flush=True)
            svc.turns.checkpoint_interval = None
            lag = await loop_lag(svc)
            info = engine.get_model(settings.default_model)
        finally:
            await asyncio.to_thread(svc.close)
    ck, plain = statistics.median(speeds["checkpointed"]), statistics.median(speeds["plain"])
    return {
        "model": settings.default_model,
        "backend": info.get("backend"),
        "runs": runs,
        "tokens": tokens,
        "tok_s_checkpointed": round(ck, 2),
        "tok_s_plain": round(plain, 2),
        "cost_pct": round(100 * (plain - ck) / plain, 2) if plain else None,
        "all_tok_s": {k: [round(v, 2) for v in vals] for k, vals in speeds.items()},
        "loop_lag_max_s": round(lag, 4),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.runs, args.tokens)), indent=2))
