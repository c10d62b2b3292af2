"""Will this model run here? ``fits`` answers "gpu", "cpu" or "no" with the bytes it needs.

needed = weights + KV cache at the default context (4096 tokens) + a margin:
- weights: the file's size (GGUF and safetensors hold the weights as they sit in memory);
- KV cache: 2 (K and V) x layers x context x KV heads x head size x 2 bytes (f16, llama.cpp's
  default), from the GGUF header when the file is local. Without a header (a file still on the
  Hub) it is estimated from the parameter count: ``KV_BYTES_PER_PARAM_TOKEN`` x parameters bytes
  a token. 3e-5 is at or above the real figure of today's grouped-query models (Llama-3.1-8B
  1.6e-5, Llama-3.2-3B 3.6e-5, Llama-3.2-1B 2.7e-5, Qwen2.5-0.5B 2.5e-5, Qwen2.5-7B 0.8e-5), so
  the estimate errs towards "does not fit"; models without GQA (SmolLM2-1.7B: 1.2e-4) need more,
  and their header, once local, gives the true figure;
- margin: llama.cpp's compute buffers and the runtime: 10 % of the weights + 300 MiB (a 7B model
  at 4096 tokens allocates ~300 MB of compute buffer on CUDA; the packaged 135M model ~50 MB).

"gpu": a GPU whose free VRAM (total when free is unknown) holds it all and a backend that can
use it (a llama.cpp build with GPU offload for GGUF); a Jetson's GPU has the board's RAM.
"cpu": the available RAM holds it. "no": neither.
"""

from __future__ import annotations

from typing import Any

from ..engine.gguf_header import kv_bytes_per_cell

DEFAULT_CONTEXT = 4096
KV_BYTES_PER_PARAM_TOKEN = 3e-5
MARGIN_FRACTION = 0.10
MARGIN_BYTES = 300 * 1024 * 1024
GIB = 1024**3


def kv_cache_bytes(
    *, header: dict[str, Any] | None = None, parameters: int | None = None, context: int = DEFAULT_CONTEXT
) -> tuple[int, str]:
    """Bytes of an f16 KV cache for ``context`` tokens, and how it was found ("header"|"estimate")."""
    per_token = kv_bytes_per_cell(header) if header else 0
    if per_token:
        return per_token * context, "header"
    if parameters:
        return int(parameters * KV_BYTES_PER_PARAM_TOKEN * context), "estimate"
    return 0, "unknown"


def needed_bytes(
    size_bytes: int,
    *,
    header: dict[str, Any] | None = None,
    parameters: int | None = None,
    context: int = DEFAULT_CONTEXT,
) -> tuple[int, str]:
    kv, how = kv_cache_bytes(header=header, parameters=parameters, context=context)
    margin = int(size_bytes * MARGIN_FRACTION) + MARGIN_BYTES
    return int(size_bytes) + kv + margin, how


def _gib(n: int | float) -> str:
    return f"{n / GIB:.1f} GiB"


def gpu_usable(hardware: dict[str, Any], fmt: str = "gguf") -> bool:
    """Whether a model of ``fmt`` can run on this machine's GPU with the backends installed."""
    if not hardware.get("gpus"):
        return False
    llama = hardware.get("llama_cpp") or {}
    if fmt == "gguf" and llama.get("installed"):
        return bool(llama.get("gpu_offload"))
    return True  # transformers (GGUF fallback, safetensors) uses CUDA through torch


def fits(
    size_bytes: int,
    hardware: dict[str, Any],
    *,
    parameters: int | None = None,
    header: dict[str, Any] | None = None,
    context: int = DEFAULT_CONTEXT,
    fmt: str = "gguf",
) -> dict[str, Any]:
    """``{"verdict": "gpu"|"cpu"|"no", "needed_bytes", "note"}`` for one model on ``hardware``."""
    need, how = needed_bytes(size_bytes, header=header, parameters=parameters, context=context)
    basis = {
        "header": f"KV cache from the model's header at {context} tokens",
        "estimate": f"KV cache estimated from {parameters or 0:,} parameters at {context} tokens",
        "unknown": "KV cache unknown (no header, no parameter count)",
    }[how]
    gpus = hardware.get("gpus") or []
    best_vram = max(
        (
            int(
                g["vram_free_bytes"]
                if g.get("vram_free_bytes") is not None
                else g.get("vram_total_bytes") or 0
            )
            for g in gpus
        ),
        default=0,
    )
    ram = int((hardware.get("ram") or {}).get("available_bytes") or 0)
    if best_vram >= need and gpu_usable(hardware, fmt):
        return {
            "verdict": "gpu",
            "needed_bytes": need,
            "note": f"fits {_gib(best_vram)} of free VRAM; {basis}",
        }
    why_not_gpu = ""
    if best_vram >= need:
        why_not_gpu = " (it would fit the GPU, but this llama.cpp build has no GPU offload)"
    elif gpus:
        why_not_gpu = f" (more than the {_gib(best_vram)} of free VRAM)"
    if ram >= need:
        return {
            "verdict": "cpu",
            "needed_bytes": need,
            "note": f"fits {_gib(ram)} of available RAM{why_not_gpu}; {basis}",
        }
    return {
        "verdict": "no",
        "needed_bytes": need,
        "note": f"needs {_gib(need)}: more than the {_gib(ram)} of available RAM{why_not_gpu}; {basis}",
    }
