#!/usr/bin/env python
"""CPU weight encodings of the packaged GGUF (prints JSON): speed, size and faithfulness.

The packaged SmolLM2 is Q4_1, a type with no fast CPU matrix multiply in llama.cpp; the server
runs it from a Q8_0 copy (``cpu_requant``, engine/backends/llamacpp_requant.py). This measures, on
bare llama-cpp-python in this process (no server), for each encoding of the same weights:

- ``file_mb``: the file llama.cpp maps; every page of it is resident once the model has run;
- ``prefill_ms``: one prompt of each of three texts (~220-320 tokens), best of ``--rounds``;
- ``decode_tok_s``: greedy decode of ``--tokens`` tokens after a short chat prompt, best of rounds;
- ``ppl``: perplexity of each text, and ``kl_to_q4_1``: the mean KL divergence (nats a token) of
  its next-token distributions from those of the shipped Q4_1 weights over the same texts.

Encodings: ``q4_1`` (as shipped: 210 Q4_1 matrices, the token embedding, which is also the tied
output matrix, already Q8_0), ``q8_0`` (what the server makes), ``q4_0`` and ``f16`` (the other
fast types: smaller but lossy, larger but exact).

Usage: .venv/bin/python bench/bench_requant.py [--rounds 3] [--tokens 64] [--threads N]
       [--encodings q4_1,q8_0,q4_0,f16] [--quick]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))

FTYPES = {"q8_0": 7, "q4_0": 2, "f16": 1}
ROOT = Path(__file__).resolve().parent.parent
PROSE = (
    "The river runs through the old town, past the mill and under three stone bridges. In spring "
    "the water rises and the meadows along its banks turn into shallow lakes where herons stand "
    "for hours. The townspeople have learned to live with it: the ground floors of the houses near "
    "the water are built of stone, the doors are raised two steps above the street, and every "
    "cellar has a pump. Children sail paper boats from the first bridge and run to the third to "
    "see which one arrives. In summer the river shrinks to a narrow stream between white stones, "
    "and the same children walk across it without wetting their knees. Old people say the river "
    "was wider once, before the dam was built upstream, and that the mill wheel turned all year."
)


def texts() -> dict[str, str]:
    code = (ROOT / "jupyter_chat_ext" / "settings.py").read_text()[:1400]
    readme = (ROOT / "README.md").read_text()[:1400]
    return {"prose": PROSE, "code": code, "readme": readme}


def make_copy(ll: Any, source: Path, target: Path, encoding: str) -> float:
    params = ll.llama_model_quantize_default_params()
    params.ftype = FTYPES[encoding]
    params.allow_requantize = True
    params.nthread = max(1, min(4, os.cpu_count() or 1))
    started = time.perf_counter()
    rc = ll.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if rc != 0:
        raise RuntimeError(f"quantize to {encoding} failed ({rc})")
    return round(time.perf_counter() - started, 2)


def log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def all_logprobs(path: Path, tokens: list[int], threads: int) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=1024, n_threads=threads, logits_all=True, verbose=False)
    llm.eval(tokens)
    out = log_softmax(np.asarray(llm.scores[: len(tokens)], dtype=np.float64))
    llm.close()
    return out


def speed(path: Path, prompts: list[list[int]], chat: str, args: argparse.Namespace) -> dict[str, Any]:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=1024, n_threads=args.threads, verbose=False)
    prefill = []
    for tokens in prompts:
        best = float("inf")
        for _ in range(args.rounds):
            llm.reset()
            started = time.perf_counter()
            llm.eval(tokens)
            best = min(best, time.perf_counter() - started)
        prefill.append(round(best * 1000, 1))
    decode = 0.0
    for _ in range(args.rounds):
        llm.reset()
        started = time.perf_counter()
        out = llm.create_completion(chat, max_tokens=args.tokens, temperature=0.0)
        n = out["usage"]["completion_tokens"]
        decode = max(decode, n / (time.perf_counter() - started))
    llm.close()
    return {"prefill_ms": prefill, "decode_tok_s": round(decode, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--encodings", default="q4_1,q8_0,q4_0,f16")
    parser.add_argument("--quick", action="store_true", help="one round, q4_1 and q8_0 only")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.encodings = 1, "q4_1,q8_0"

    import llama_cpp as ll
    from llama_cpp import Llama
    from remote_fixtures import packaged_gguf

    from jupyter_chat_ext.engine.backends import llamacpp_native

    llamacpp_native.lib()  # backend initialised once, log chatter off
    source = Path(packaged_gguf())
    vocab = Llama(model_path=str(source), vocab_only=True, verbose=False)
    corpus = {name: vocab.tokenize(text.encode())[:320] for name, text in texts().items()}
    chat = "<|im_start|>user\nDescribe a walk through a busy market.<|im_end|>\n<|im_start|>assistant\n"
    out: dict[str, Any] = {
        "source": source.name,
        "threads": args.threads,
        "prompt_tokens": {k: len(v) for k, v in corpus.items()},
        "load_avg_before": os.getloadavg(),
        "encodings": {},
    }
    reference: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for encoding in args.encodings.split(","):
            entry: dict[str, Any] = {}
            if encoding == "q4_1":
                path = source
            else:
                path = Path(tmp) / f"{encoding}.gguf"
                entry["made_in_s"] = make_copy(ll, source, path, encoding)
            entry["file_mb"] = round(path.stat().st_size / 2**20, 1)
            entry.update(speed(path, list(corpus.values()), chat, args))
            ppl, kls = {}, {}
            for name, tokens in corpus.items():
                logprobs = all_logprobs(path, tokens, args.threads)
                nll = -logprobs[np.arange(len(tokens) - 1), tokens[1:]]
                ppl[name] = round(float(np.exp(nll.mean())), 2)
                if encoding == "q4_1":
                    reference[name] = logprobs
                elif name in reference:
                    ref = reference[name]
                    kls[name] = round(float((np.exp(ref) * (ref - logprobs)).sum(axis=-1).mean()), 4)
            entry["ppl"] = ppl
            if kls:
                entry["kl_to_q4_1"] = kls
            out["encodings"][encoding] = entry
            if path != source:
                path.unlink()
    out["load_avg_after"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
