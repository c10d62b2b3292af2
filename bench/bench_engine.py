"""Engine throughput: our batcher vs. a bare ``model.generate`` on the same model, same run.

Prints JSON:
- single stream: decode tok/s and time to first token, engine vs. bare generate (ratio goal >= 0.95);
- concurrency: aggregate tok/s with 4 and 8 concurrent requests vs. one stream (goal >= 3x at 4).

Run: .venv/bin/python bench/bench_engine.py [--quick] [--tokens 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("JUPYTER_CHAT_EXT_MODEL_CACHE", str(REPO / ".cache" / "models"))

PROMPTS = [
    "Write a long story about a dragon who learns to bake bread.",
    "Explain in detail how a steam engine works.",
    "Describe the history of the printing press at length.",
    "Write a detailed travel guide to the mountains of Norway.",
    "Explain how photosynthesis works, step by step, in detail.",
    "Write a long letter to a friend about learning to play the piano.",
    "Describe, in detail, how bread is made from wheat to loaf.",
    "Write an essay about the importance of libraries.",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="32 tokens, 1 repeat")
    args = ap.parse_args()
    if args.quick:
        args.tokens, args.repeats = 32, 1

    import torch

    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.settings import Settings

    load_before = list(os.getloadavg())
    # this bench measures the transformers backend (our batcher) against raw model.generate;
    # bench_backends.py compares it with the llama.cpp backend
    engine = Engine(Settings(data_dir=Path(tempfile.mkdtemp()), backend="transformers"))
    info = engine.load(engine.settings.default_model)
    runtime = engine.runtime(info["id"])
    model, tok = runtime.loaded.model, runtime.tokenizer
    n = args.tokens

    def messages(i: int = 0) -> list[dict[str, str]]:
        return [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]

    # -- single stream ------------------------------------------------------------------
    def engine_run(i: int = 0) -> tuple[float, float, int]:
        t0 = time.perf_counter()
        done = engine.generate(None, messages(i), {"max_tokens": n})
        total = time.perf_counter() - t0
        m = done["metrics"]
        return m["completion_tokens"] / total, m["ttft_s"], m["completion_tokens"]

    def bare_run(count: int, i: int = 0) -> tuple[float, float]:
        ids = torch.tensor([engine.prompt_ids(None, messages(i))])
        with torch.inference_mode():
            t0 = time.perf_counter()
            model.generate(ids, max_new_tokens=1, do_sample=False, pad_token_id=tok.pad_token_id)
            ttft = time.perf_counter() - t0
            t0 = time.perf_counter()
            out = model.generate(
                ids,
                max_new_tokens=count,
                min_new_tokens=count,
                do_sample=False,
                pad_token_id=tok.pad_token_id,
            )
            total = time.perf_counter() - t0
        return (out.shape[1] - ids.shape[1]) / total, ttft

    engine_run()  # warm-up
    bare_run(8)
    eng_tps, eng_ttft, bare_tps, bare_ttft = [], [], [], []
    for _ in range(args.repeats):  # interleaved so drift hits both alike
        tps, ttft, count = engine_run()
        eng_tps.append(tps)
        eng_ttft.append(ttft)
        btps, bttft = bare_run(count)
        bare_tps.append(btps)
        bare_ttft.append(bttft)

    # -- concurrency ----------------------------------------------------------------------
    def concurrent(k: int) -> dict[str, float]:
        results: list[dict] = [{}] * k

        def worker(i: int) -> None:
            results[i] = engine.generate(None, messages(i), {"max_tokens": n})

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        tokens = sum(r["metrics"]["completion_tokens"] for r in results)
        return {
            "aggregate_tok_s": tokens / wall,
            "mean_ttft_s": statistics.mean(r["metrics"]["ttft_s"] for r in results),
            "tokens": tokens,
        }

    single = statistics.median(eng_tps)
    conc = {}
    for k in (4, 8):
        runs = [concurrent(k) for _ in range(args.repeats)]
        agg = statistics.median(r["aggregate_tok_s"] for r in runs)
        conc[str(k)] = {
            "aggregate_tok_s": round(agg, 2),
            "vs_single_stream": round(agg / single, 2),
            "mean_ttft_s": round(statistics.median(r["mean_ttft_s"] for r in runs), 3),
        }
    result = {
        "bench": "engine",
        "load_avg_before_after": [load_before, list(os.getloadavg())],
        "model": info["id"],
        "device": info["device"],
        "dtype": info["dtype"],
        "tokens": n,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "single_stream": {
            "engine_tok_s": round(single, 2),
            "bare_generate_tok_s": round(statistics.median(bare_tps), 2),
            "ratio_engine_vs_bare": round(single / statistics.median(bare_tps), 3),
            "engine_ttft_s": round(statistics.median(eng_ttft), 4),
            "bare_ttft_s": round(statistics.median(bare_ttft), 4),
        },
        "concurrent": conc,
    }
    engine.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
