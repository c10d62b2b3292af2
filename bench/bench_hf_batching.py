"""The transformers path: our batcher vs transformers' continuous batching vs bare ``generate``.

Same model (the packaged SmolLM2-135M, loaded by our transformers backend), same process, same
prompts, at 1, 8 and 32 concurrent requests, greedy and sampled (temperature 0.8, top_p 0.95).
Every request decodes exactly ``--tokens`` tokens (EOS ignored). Prints one JSON object (and writes
it to ``--out`` when given): per method, mode and concurrency the aggregate tok/s, each request's
first-token time, CPU ms per generated token (process CPU time: every thread), and whether a seeded
request is reproducible beside others (the same request and seed alone, then as one row of 8).

- ``ours``: our ``Batcher`` (engine/backends/transformers/batcher.py), ``max_batch_size`` 32, EOS off;
- ``hf_cb``: ``model.init_continuous_batching`` (paged KV cache, the manager's own thread); the
  cache is sized explicitly (on a CPU the manager would otherwise take 90 % of free system RAM);
  greedy and sampling are one setting per manager, so each mode has its own manager; sampled
  requests pass temperature/top_p per request (``per_request_processors``);
- ``hf_generate``: bare ``model.generate``: 1 stream, and left-padded static batches of 8 and 32
  (their requests all start together, so a batch has one first-token time).

Run it under the team's CPU lock:
    flock /tmp/team/cpu.lock .venv/bin/python bench/bench_hf_batching.py --out bench/data/hf_batching_cpu.json
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
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("JUPYTER_CHAT_EXT_MODEL_CACHE", str(REPO / ".cache" / "models"))

TOPICS = ["bread", "steam engines", "printing", "Norway", "photosynthesis", "pianos", "libraries", "rivers"]
PROMPTS = [f"Request {i}: write a long essay about the history of {t}." for i, t in enumerate(TOPICS * 4)]
SAMPLED = {"temperature": 0.8, "top_p": 0.95}
SEED = 1234


def _summary(ttfts: list[float], tokens: int, wall: float, cpu: float) -> dict[str, Any]:
    return {
        "tok_s": round(tokens / wall, 1),
        "tokens": tokens,
        "wall_s": round(wall, 3),
        "cpu_ms_per_token": round(1000 * cpu / max(tokens, 1), 2),
        "ttft_s": {
            "median": round(statistics.median(ttfts), 3),
            "max": round(max(ttfts), 3),
            "each": [round(t, 3) for t in ttfts],
        },
    }


class Ours:
    """Our batcher over the loaded model, EOS off, one request per prompt."""

    name = "ours"

    def __init__(self, loaded: Any, context_length: int) -> None:
        from jupyter_chat_ext.engine.backends.transformers.batcher import Batcher

        self.batcher = Batcher(
            loaded.model,
            loaded.tokenizer,
            model_id="bench",
            device=loaded.device,
            eos_token_ids=[],
            context_length=context_length,
            max_batch_size=32,
            max_queue=128,
        )

    def run(self, prompts: list[list[int]], n: int, sampled: bool, seeds: list[int]) -> tuple[list, list]:
        from jupyter_chat_ext.engine.backends.base import GenRequest
        from jupyter_chat_ext.engine.options import GenerationOptions

        done: list[dict | None] = [None] * len(prompts)
        finished = threading.Semaphore(0)

        def sink_for(i: int):
            def sink(event: dict) -> None:
                if event["type"] in ("done", "error"):
                    done[i] = event
                    finished.release()

            return sink

        opts = SAMPLED if sampled else {"temperature": 0.0}
        for i, ids in enumerate(prompts):
            req = GenRequest(list(ids), GenerationOptions(**opts, seed=seeds[i]), n, sink_for(i))
            self.batcher.submit(req)
        for _ in prompts:
            finished.acquire()
        outputs = [e.get("text") for e in done]  # type: ignore[union-attr]
        ttfts = [e["metrics"]["ttft_s"] for e in done]  # type: ignore[index]
        return outputs, ttfts

    def close(self) -> None:
        self.batcher.close()


def page_size_arg(config_class: Any, page: int) -> dict[str, int]:
    """The KV page size's keyword: ``page_size`` where the class takes it (this venv's 5.25 takes
    both), else ``block_size``: the device image's 5.17 refuses ``page_size`` (found by
    bench/gpu_devsim.py's dry run)."""
    import inspect

    params = inspect.signature(config_class.__init__).parameters
    return {"page_size" if "page_size" in params else "block_size": page}


class HFContinuous:
    """transformers' ContinuousBatchingManager: one per mode (do_sample is the manager's)."""

    name = "hf_cb"

    def __init__(
        self, model: Any, tok: Any, n: int, sampled: bool, seed: int = SEED, prompt_len: int = 64
    ) -> None:
        self.model, self.tok, self.sampled, self.n = model, tok, sampled, n
        self.prompt_len = prompt_len
        self.seed = seed
        self.manager = self._start(seed)

    def _start(self, seed: int) -> Any:
        from transformers import ContinuousBatchingConfig, GenerationConfig

        extra = {**SAMPLED, "top_k": 0} if self.sampled else {}
        gen = GenerationConfig(
            max_new_tokens=self.n,
            do_sample=self.sampled,
            eos_token_id=-1,
            pad_token_id=self.tok.pad_token_id,
            **extra,
        )
        page = 64
        per_request = (self.prompt_len + self.n) // page + 2  # prompt + answer, in pages
        cfg = ContinuousBatchingConfig(
            seed=seed,
            **page_size_arg(ContinuousBatchingConfig, page),
            num_blocks=32 * per_request,
            max_batch_tokens=2048,
            per_request_processors=self.sampled,
        )
        manager = self.model.init_continuous_batching(generation_config=gen, continuous_batching_config=cfg)
        if self.model.device.type == "cuda":
            manager.warmup()  # CUDA graphs captured before timing, as generate_batch does
        manager.start()
        return manager

    def restart(self, seed: int) -> None:
        """A fresh manager (its seed reseeds torch's global generator, the only one it samples with)."""
        self.close()
        self.manager = self._start(seed)

    def run(self, prompts: list[list[int]], n: int, sampled: bool, seeds: list[int]) -> tuple[list, list]:
        kwargs = SAMPLED if sampled else {}
        submitted = {}
        for ids in prompts:
            t = time.perf_counter()
            rid = self.manager.add_request(list(ids), max_new_tokens=n, record_timestamps=True, **kwargs)
            submitted[rid] = t
        results: dict[str, Any] = {}
        while len(results) < len(prompts):
            out = self.manager.get_result(timeout=120)
            if out is None:
                raise RuntimeError(
                    f"continuous batching stalled: {self.manager.background_thread_status.fatal_error}"
                )
            if out.is_finished():
                results[out.request_id] = out
        order = list(submitted)
        outputs = [results[r].generated_tokens for r in order]
        ttfts = [results[r].timestamps[0] - submitted[r] for r in order]
        return outputs, ttfts

    def close(self) -> None:
        self.manager.stop(block=True)
        self.manager.destroy()


class HFGenerate:
    """Bare ``model.generate``: left-padded static batches."""

    name = "hf_generate"

    def __init__(self, model: Any, tok: Any) -> None:
        self.model, self.tok = model, tok
        self.device = model.device

    def run(self, prompts: list[list[int]], n: int, sampled: bool, seeds: list[int]) -> tuple[list, list]:
        import torch
        from transformers.generation.streamers import BaseStreamer

        pad = self.tok.pad_token_id or 0
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        first: list[float] = []

        class FirstToken(BaseStreamer):
            calls = 0

            def put(self, value: Any) -> None:
                self.calls += 1
                if self.calls == 2:  # the first call is the prompt
                    first.append(time.perf_counter())

            def end(self) -> None:
                pass

        torch.manual_seed(seeds[0])  # generate samples with torch's global generator
        kw: dict[str, Any] = {"do_sample": sampled, **(SAMPLED if sampled else {}), "top_k": None}
        t = time.perf_counter()
        out = self.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=n,
            min_new_tokens=n,
            pad_token_id=pad,
            streamer=FirstToken(),
            **kw,
        )
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        ttft = first[0] - t  # one first token for the whole static batch
        return [row[width:].tolist() for row in out], [ttft] * len(prompts)

    def close(self) -> None:
        pass


def measure(method: Any, prompts: list[list[int]], n: int, sampled: bool, conc: int) -> dict[str, Any]:
    batch = [prompts[i % len(prompts)] for i in range(conc)]
    seeds = [SEED + i for i in range(conc)]
    cpu0, t0 = time.process_time(), time.perf_counter()
    outputs, ttfts = method.run(batch, n, sampled, seeds)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    tokens = sum(len(o) for o in outputs) if method.name != "ours" else conc * n
    return _summary(ttfts, tokens, wall, cpu)


def seed_check(method: Any, prompts: list[list[int]], n: int) -> dict[str, Any]:
    """The same request and seed alone, alone again, then as row 3 of 8 with other prompts."""
    target = prompts[3]
    crowd = [prompts[i] for i in range(8)]
    seeds = [SEED + 100 + i for i in range(8)]
    restart = getattr(method, "restart", None)
    restart and restart(seeds[3])
    alone = method.run([target], n, True, [seeds[3]])[0][0]
    restart and restart(seeds[3])
    again = method.run([target], n, True, [seeds[3]])[0][0]
    restart and restart(seeds[3])
    if method.name == "hf_generate":  # one generator for the batch: seed it with the target's
        beside = method.run(crowd, n, True, [seeds[3]] * 8)[0][3]
    else:
        beside = method.run(crowd, n, True, seeds)[0][3]
    return {"alone_twice_same": alone == again, "beside_others_same": alone == beside}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--methods", default="ours,hf_cb,hf_generate")
    ap.add_argument("--generate-batches", default="1,8,32", help="static batch sizes for bare generate")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    n, concs = args.tokens, [int(c) for c in args.concurrency.split(",")]

    import torch
    import transformers

    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.settings import Settings

    load = [round(x, 2) for x in os.getloadavg()]
    engine = Engine(Settings(data_dir=Path(tempfile.mkdtemp()), backend="transformers"))
    info = engine.load(engine.settings.default_model)
    runtime = engine.runtime(info["id"])
    loaded = runtime.loaded
    model, tok = loaded.model, loaded.tokenizer
    prompts = [runtime.prompt_ids([{"role": "user", "content": p}]) for p in PROMPTS]
    result: dict[str, Any] = {
        "bench": "bench_hf_batching",
        "model": info["id"],
        "device": loaded.device,
        "dtype": loaded.dtype,
        "tokens_per_request": n,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "load_before": load,
        "sampled": SAMPLED,
    }
    wanted = args.methods.split(",")
    gen_batches = {int(b) for b in args.generate_batches.split(",") if b}
    for mode in ("greedy", "sampled"):
        sampled = mode == "sampled"
        for name in wanted:
            if name == "ours":
                method: Any = Ours(loaded, runtime.context_length)
            elif name == "hf_cb":
                method = HFContinuous(model, tok, n, sampled, prompt_len=max(map(len, prompts)))
            else:
                method = HFGenerate(model, tok)
            try:
                method.run([prompts[0]], 4, sampled, [SEED])  # warm-up
                entry = result.setdefault(name, {}).setdefault(mode, {})
                for c in concs:
                    if name == "hf_generate" and c not in gen_batches:
                        continue
                    entry[f"c{c}"] = measure(method, prompts, n, sampled, c)
                    print(name, mode, c, entry[f"c{c}"]["tok_s"], "tok/s", flush=True)
                if sampled:
                    entry["seed_reproducible"] = seed_check(method, prompts, min(n, 32))
            finally:
                method.close()
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    for mode in ("greedy", "sampled"):
        ours = result.get("ours", {}).get(mode, {})
        for other in ("hf_cb", "hf_generate"):
            theirs = result.get(other, {}).get(mode, {})
            ratios = {
                c: round(ours[c]["tok_s"] / theirs[c]["tok_s"], 3)
                for c in ours
                if c in theirs and c[0] == "c"
            }
            result.setdefault("ours_over", {}).setdefault(other, {})[mode] = ratios
    engine.close()
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
