r"""GPU bench of the engine (prints one JSON object; writes $OUT/gpu.json): run it in one device call.

Our transformers backend on CUDA against transformers itself on the same GPU in the same run. It
imports only the engine (no server, no store): torch and transformers are on the device machine,
the few wheels it lacks are carried. Started from ../shared/gpu/gpu_check.py: all it measures is
here (its one-shot ``generate_batch`` is replaced by the persistent manager that serving would
use, the one ``generate_batch`` runs inside), plus seeds, bnb 8-bit, weight ratios and embeddings.

Model: a bench/shapes.py shape (``GPU_SHAPE``, default smollm2-1.7b: hidden 2048, 24 layers, 32
heads, vocab 49152), random weights built on the device from the published config's fields, the
EOS rows of the output matrix zeroed so greedy decoding never stops early (every request decodes
exactly GPU_TOKENS, default 128). The embedder: all-MiniLM-L6-v2's shape, random weights, the
packaged model's tokenizer and pooling files.

Steps, in this order, the issue's goals first (tok/s = generated tokens / wall seconds; each
step records its own error and the run goes on; $OUT/gpu.json is rewritten after each step, so
a run stopped by its timeout still returns the steps it finished):
- ``ours``: Engine (backend transformers, device cuda) at 1, 8, 32 concurrent requests, structured
  (JSON schema) output through the llguidance mask on CUDA logits, peak and weight GPU memory;
- ``bnb_4bit`` (and ``bnb_8bit``, last: LLM.int8 decodes slowest): bitsandbytes through our
  loader: load, answers at 1/8, GPU memory and the loader's ``weight_gb``;
  ``weights_gpu_mem_gb_vs_bf16`` / ``weight_gb_vs_bf16`` of 4-bit is the goal's "< 40 % of bf16's
  weight memory" (on the CPU at this shape, bench_quant.py --shape: 0.309);
- ``embeddings``: texts/s of our Embedder on CUDA (batches of 64) and on the CPU;
- ``compare``: on one loaded model, bench/bench_hf_batching.py's three methods side by side: our
  ``Batcher`` directly (``ours``), transformers' ``ContinuousBatchingManager`` (``hf_cb``: paged
  attention, one persistent manager per mode, started and warmed before timing, its KV cache sized
  for 32 requests) and bare ``generate`` (``hf_generate``: 1 stream, padded static batches of 8/32);
  greedy at 1/8/32 and sampled at 32, each with aggregate tok/s, first-token time and CPU ms a
  token, and for sampled runs whether a seeded request gives the same tokens alone and beside 7
  others (``seed_reproducible``; on CUDA a batch's shape may change GEMM kernels, so ours is checked
  too);
- ``decision``: ours ÷ hf_cb and ours ÷ hf_generate at 1/8/32 (greedy), the issue's two goals, which
  is faster at 32, and the seed checks: whether serving through transformers' manager on CUDA
  would be worth its losses (docs/architecture.md, the transformers backend).

CPU dry run (tiny model, a few tokens, bnb on the CPU, ~30 s; proves the script before device time
is spent); ``GPU_DEVSIM=1`` and the image's transformers first on PYTHONPATH: as the device would
import (bench/gpu_devsim.py says how; it found pydantic missing from the carry and transformers
5.17's ``block_size``, see bench_hf_batching.page_size_arg). Helpers: bench/gpu_parts.py.
    GPU_DRY=1 GPU_TOKENS=8 OUT=$(mktemp -d) .venv/bin/python bench/bench_gpu.py

Carry recipe (the device reaches nothing; tree + carry <= 64 MiB = 67.1 MB: measured 4.4 MB
tracked + 49.5 MB wheels + 4.1 MB tokenizer/embedder = 58 MB). The image has torch, transformers,
accelerate, numpy; the engine also imports pydantic (engine/options.py; 2.14 needs typing-extensions
>= 4.16, maybe newer than the image's), llguidance and jsonschema; the bnb steps bitsandbytes (0.50.2
ships libbitsandbytes_cuda130, the image's torch is 2.11+cu130). This venv's versions (the CPU
figures'), for CPython 3.12 there (llguidance 1.9: manylinux_2_31); installed with 3.12 --target
and imported here, pydantic included (bitsandbytes needs torch: the dry run imports it):
    printf '/.gpu/\n' >> .git/info/exclude
    PINS=$(.venv/bin/python -c "import importlib.metadata as m; print(' '.join(n + '==' + \
      m.version(n) for n in 'bitsandbytes llguidance jsonschema jsonschema-specifications \
      referencing rpds-py pydantic pydantic-core annotated-types typing-inspection \
      typing-extensions'.split()))")
    rm -rf .gpu/whl && mkdir -p .gpu/whl && python3 -m pip download -q --no-deps --only-binary=:all: \
      --python-version 3.12 --implementation cp --platform manylinux_2_31_x86_64 \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .gpu/whl $PINS    # 11 wheels, 49.5 MB; one version each
    .venv/bin/python -c "import sys; sys.path.insert(0, 'tests/core'); from remote_fixtures import \
    packaged_gguf as p; from transformers import AutoTokenizer as T; g = p(); \
    T.from_pretrained(str(g.parent), gguf_file=g.name).save_pretrained('.gpu/tok')"
    .venv/bin/python -c "import shutil; from jupyter_chat_ext.engine.embeddings import \
    packaged_model_dir as p; shutil.copytree(p(), '.gpu/emb', \
    ignore=shutil.ignore_patterns('*.safetensors', 'README.md', 'data_config.json'))"
    du -cb .gpu $(git ls-files) | tail -1    # must stay under 67108864 with the tree

One device call (run tool): carry [".gpu"], timeout_s 360. Device time is 15 min in all, starts
(1-2 min each) included, and a machine is warm only 30 s after a call: a run of <= 6 min leaves a
fresh start plus one rerun. ~4-5 min by estimate (no GPU figure yet); timeout 340 keeps gpu.json:
    S=$(mktemp -d) && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
      --target $S .gpu/whl/*.whl && export PYTHONPATH=$S && PYTHONUNBUFFERED=1 timeout 340 \
      python3 bench/bench_gpu.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

SRC = Path(os.environ.get("GPU_CHECK_SRC", os.getcwd()))
TOK = Path(os.environ.get("GPU_CHECK_TOK", SRC / ".gpu" / "tok"))
EMB = Path(os.environ.get("GPU_CHECK_EMB", SRC / ".gpu" / "emb"))
sys.path.insert(0, str(SRC))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
OUT = Path(os.environ.get("OUT", tempfile.mkdtemp()))
N = int(os.environ.get("GPU_TOKENS", "128"))
DRY = os.environ.get("GPU_DRY") == "1"  # a CPU dry run of this script with a tiny model
DEV = "cpu" if DRY else "cuda"
SHAPE = "tiny" if DRY else os.environ.get("GPU_SHAPE", "smollm2-1.7b")  # a bench/shapes.py shape
RESULT: dict = {"tokens_per_request": N, "shape": SHAPE}
sys.path.insert(0, str(SRC / "bench"))
if os.environ.get("GPU_DEVSIM") == "1":  # the dry run refuses what the device image lacks
    import gpu_devsim

    gpu_devsim.install()
    RESULT["devsim_blocked"] = gpu_devsim.BLOCKED  # filled as imports are refused


def save() -> None:
    (OUT / "gpu.json").write_text(json.dumps(RESULT, indent=1))


def step(name):
    def wrap(fn):
        t0 = time.perf_counter()
        try:
            RESULT[name] = fn()
        except Exception as exc:  # record and go on: one failing part must not hide the others
            error = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-1500:]}
            partial = RESULT.get(name)  # what a step put in RESULT before it failed is kept
            RESULT[name] = {**partial, **error} if isinstance(partial, dict) else error
        RESULT.setdefault("step_s", {})[name] = round(time.perf_counter() - t0, 1)
        print(name, json.dumps(RESULT[name])[:600], flush=True)
        save()
        return fn

    return wrap


import gpu_parts  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from shapes import SHAPES  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

RESULT["env"] = {
    "torch": torch.__version__,
    "transformers": transformers.__version__,
    "gpu": None if DRY else torch.cuda.get_device_name(0),
    "cuda": torch.version.cuda,
    "python": sys.version.split()[0],
}
MODELS = Path(tempfile.mkdtemp(prefix="gpumodels-"))
MODEL_DIR = MODELS / f"{SHAPE}-random"
tok = AutoTokenizer.from_pretrained(str(TOK))
PROMPTS = [
    f"Request {i}: write a long, detailed essay about the history of {topic}, with examples."
    for i, topic in enumerate(
        ["bread", "steam engines", "printing", "Norway", "photosynthesis", "pianos", "libraries", "rivers"]
        * 4
    )
]


@step("build_model")
def _build():
    arch, fields = SHAPES[SHAPE]  # the published config's shape fields, as bench/shapes.py builds it
    cfg = getattr(transformers, arch).config_class(
        vocab_size=fields.get("vocab_size", len(tok)),
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **{k: v for k, v in fields.items() if k != "vocab_size"},
    )
    torch.manual_seed(0)
    with torch.device(DEV):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    eos = {
        tok.eos_token_id,
        tok.convert_tokens_to_ids("<|im_end|>"),
        tok.convert_tokens_to_ids("<|endoftext|>"),
    }
    with torch.no_grad():  # a zero output row: EOS never wins greedy decoding
        for t in eos:
            if t is not None and t >= 0:
                model.get_output_embeddings().weight[t].zero_()
    model.save_pretrained(MODEL_DIR)
    tok.save_pretrained(MODEL_DIR)
    params = sum(p.numel() for p in model.parameters())
    del model
    DRY or torch.cuda.empty_cache()
    return {"arch": arch, "params": params, "eos_zeroed": sorted(int(t) for t in eos if t is not None)}


def prompt_ids(i):
    msgs = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
    return tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False)


def engine_runs(quantization=None, batch=32, concurrencies=(1, 8, 32)):
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.settings import Settings

    DRY or torch.cuda.reset_peak_memory_stats()
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp()),
        model_dirs=[MODELS],
        scan_hf_cache=False,
        backend="transformers",
        device=DEV,
        max_batch_size=batch,
        max_queue=128,
        default_model=MODEL_DIR.name,
        quantization=quantization,
    )
    engine = Engine(settings)
    t0 = time.perf_counter()
    listed = engine.list_models()
    model_id = next((m["id"] for m in listed if m["path"] == str(MODEL_DIR)), None)
    if model_id is None:
        return {"error": f"model not listed: {[m['id'] for m in listed]}"}
    info = engine.load(model_id)
    out = {
        "load_s": round(time.perf_counter() - t0, 2),
        "model": {k: info.get(k) for k in ("id", "device", "dtype", "backend", "notes")},
    }
    out["weights_gpu_mem_gb"] = None if DRY else round(torch.cuda.memory_allocated() / 2**30, 3)
    loaded = getattr(engine.runtime(model_id), "loaded", None)
    out["quantization"] = getattr(loaded, "quantization", None)  # None: bitsandbytes did not quantize
    weight_bytes = getattr(loaded, "weight_bytes", None)  # parameters + buffers + bnb quant state
    out["weight_bytes"], out["weight_gb"] = weight_bytes, weight_bytes and round(weight_bytes / 2**30, 3)

    def one(i, res):
        msgs = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
        done = engine.generate(model_id, msgs, {"max_tokens": N, "temperature": 0})
        res[i] = done.get("metrics", {}).get("completion_tokens") or done.get("usage", {}).get(
            "completion_tokens"
        )

    one(0, {})  # warm-up
    for c in concurrencies:
        res: dict = {}
        threads = [threading.Thread(target=one, args=(i, res)) for i in range(c)]
        t = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t
        toks = sum(v or 0 for v in res.values())
        out[f"c{c}"] = {"tok_s": round(toks / wall, 1), "tokens": toks, "wall_s": round(wall, 2)}
    if quantization is None:
        out["structured"] = gpu_parts.structured_answer(engine, model_id)
    out["peak_gpu_mem_gb"] = None if DRY else round(torch.cuda.max_memory_allocated() / 2**30, 2)
    out["stats"] = engine.stats()
    engine.close()
    DRY or torch.cuda.empty_cache()
    return out


@step("ours")
def _ours():
    return engine_runs()


def _bnb_run(bits):
    import bitsandbytes  # a dry run quantizes on the CPU (bitsandbytes >= 0.49 runs there)

    out = engine_runs(quantization=bits, batch=8, concurrencies=(1, 8))
    out["bitsandbytes"] = bitsandbytes.__version__
    ours = RESULT.get("ours") or {}
    ratios = {"weights_gpu_mem_gb": "weights_gpu_mem_gb_vs_bf16", "weight_bytes": "weight_gb_vs_bf16"}
    for key, name in ratios.items():
        if ours.get(key) and out.get(key):
            out[name] = round(out[key] / ours[key], 3)  # the goal, 4bit: < 0.40
    return out


@step("bnb_4bit")
def _bnb4():
    return _bnb_run("4bit")


@step("embeddings")
def _embeddings():
    texts = [f"{PROMPTS[i % len(PROMPTS)]} Passage {i} of a notebook's documentation." for i in range(512)]
    devices = ("cpu",) if DRY else ("cuda", "cpu")
    return gpu_parts.embedder_speed(EMB, MODELS / "minilm-random", texts, devices)


def failure(exc: Exception) -> dict:
    return {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-800:]}


def hf_methods_compare():
    """Our batcher, transformers' continuous batching and bare generate on one loaded model.

    The classes and the measurement are bench/bench_hf_batching.py's (the CPU bench of the same
    question): each request decodes exactly N tokens, per-request first-token times, seeds checked.
    """
    from bench_hf_batching import HFContinuous, HFGenerate, Ours, measure, seed_check

    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.bfloat16, device_map=DEV)
    model.eval()
    prompts = [prompt_ids(i) for i in range(len(PROMPTS))]

    class Loaded:  # what Ours needs of our loader's LoadedModel
        pass

    loaded = Loaded()
    loaded.model, loaded.tokenizer, loaded.device = model, tok, DEV
    # in RESULT from the start: a run stopped by its timeout still returns the methods it measured
    out = RESULT["compare"] = {}
    makers = {
        "ours": lambda sampled: Ours(loaded, 8192),
        "hf_cb": lambda sampled: HFContinuous(model, tok, N, sampled, prompt_len=max(map(len, prompts))),
        "hf_generate": lambda sampled: HFGenerate(model, tok),
    }
    # every method's greedy runs (the decision's figures) before any sampled one and the seed checks
    for mode in ("greedy", "sampled"):
        for name, make in makers.items():
            entry = out.setdefault(name, {})
            sampled = mode == "sampled"
            t = time.perf_counter()
            try:
                method = make(sampled)
            except Exception as exc:
                entry[mode] = failure(exc)
                continue
            try:
                method.run([prompts[0]], 4, sampled, [0])  # warm-up (and CUDA graphs for hf_cb)
                res: dict = {"start_s": round(time.perf_counter() - t, 2)}
                # greedy at 1/8/32; sampled at 32 only (the per-request processors' cost) + seeds
                for c in (1, 8, 32) if not sampled else (32,):
                    res[f"c{c}"] = measure(method, prompts, N, sampled, c)
                    res[f"c{c}"]["ttft_s"].pop("each")
                if sampled:
                    res["seed_reproducible"] = seed_check(method, prompts, min(N, 32))
                entry[mode] = res
            except Exception as exc:
                entry[mode] = failure(exc)
            finally:
                try:
                    method.close()
                except Exception:
                    pass
            print(name, mode, json.dumps(entry.get(mode))[:400], flush=True)
            save()
    model = loaded.model = None
    DRY or torch.cuda.empty_cache()
    return out


def tok_s(part, mode, c):
    return (((RESULT.get("compare") or {}).get(part) or {}).get(mode) or {}).get(f"c{c}", {}).get("tok_s")


@step("compare")
def _compare():
    return hf_methods_compare()


@step("decision")
def _decision():
    """Which of ours and transformers' manager is faster on CUDA in this run, and the seed checks."""
    out: dict = {}
    for c in (1, 8, 32):
        ours, cb, gen = (tok_s(p, "greedy", c) for p in ("ours", "hf_cb", "hf_generate"))
        out[f"c{c}"] = {
            "ours_over_hf_cb": round(ours / cb, 3) if ours and cb else None,
            "ours_over_hf_generate": round(ours / gen, 3) if ours and gen else None,
        }
    ours32, cb32 = tok_s("ours", "greedy", 32), tok_s("hf_cb", "greedy", 32)
    gen1, ours1 = tok_s("hf_generate", "greedy", 1), tok_s("ours", "greedy", 1)
    out["goal_ours_ge_1.0x_cb_at_32"] = bool(ours32 and cb32 and ours32 >= cb32)
    out["goal_ours_ge_0.95x_generate_at_1"] = bool(ours1 and gen1 and ours1 >= 0.95 * gen1)
    for part in ("ours", "hf_cb", "hf_generate"):
        sampled = ((RESULT.get("compare") or {}).get(part) or {}).get("sampled") or {}
        out[f"{part}_seed_reproducible"] = sampled.get("seed_reproducible")
    out["faster_at_32"] = None if not (ours32 and cb32) else ("ours" if ours32 >= cb32 else "hf_cb")
    return out


@step("bnb_8bit")
def _bnb8():
    return _bnb_run("8bit")


RESULT["done"] = True
save()
print(json.dumps({k: v for k, v in RESULT.items() if k not in ("ours",)})[:3000])
