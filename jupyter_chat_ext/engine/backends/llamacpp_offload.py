"""How many layers the llama.cpp backend puts on the GPU (``Settings.n_gpu_layers``).

An int is taken as given (``-1``: all, ``0``: none). ``"auto"`` (the default) decides per model:

- a CPU build of llama-cpp-python (``llama_supports_gpu_offload()`` false), or no NVIDIA GPU found:
  none;
- the weights, the KV pool and a margin fit in the GPU's free memory: all (``-1``);
- otherwise as many repeating layers as fit, each costing its share of the weights and of the KV
  pool (llama.cpp keeps an offloaded layer's KV cache on the GPU too).

Free VRAM comes from the model hub's hardware profile (``hub/hardware.py``: NVML, else
``nvidia-smi``); a Jetson's GPU shares the board's RAM, which the profile reports as its VRAM.
``plan_layers`` is pure arithmetic over the figures, so tests feed it any GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: llama.cpp's compute buffers and the CUDA runtime beside weights + KV: 10 % of the weights plus
#: 300 MiB, the margin hub/fits.py uses (a 7B model at 4096 tokens allocates ~300 MB of compute
#: buffer on CUDA)
MARGIN_FRACTION = 0.10
MARGIN_BYTES = 300 * 1024 * 1024


@dataclass(frozen=True)
class OffloadPlan:
    n_gpu_layers: int  # what llama.cpp gets: -1 all, 0 none, else that many repeating layers
    device: str  # "cuda", "cuda (partial)" or "cpu"
    note: str | None = None


def parse_setting(value: Any) -> int | str:
    """``Settings.n_gpu_layers`` as ``"auto"`` or an int (strings from the command line too)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "auto"):
            return "auto"
        try:
            return int(text)
        except ValueError:
            raise ValueError(f'n_gpu_layers must be an integer or "auto", not {value!r}') from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f'n_gpu_layers must be an integer or "auto", not {value!r}')
    return value


def plan_layers(
    requested: int | str,
    *,
    gpu_offload: bool,
    n_layers: int,
    weights_bytes: int,
    kv_bytes: int,
    vram_free: int | None,
) -> OffloadPlan:
    """The layer count for one model; ``vram_free`` None means no GPU was found."""
    requested = parse_setting(requested)
    if requested != "auto":
        n = int(requested)
        if n and not gpu_offload:
            return OffloadPlan(
                0,
                "cpu",
                f"n_gpu_layers={n} asked for, but this llama-cpp-python build has no GPU support "
                "(make install builds one when nvcc and an NVIDIA GPU are present); running on the CPU",
            )
        if n == 0:
            return OffloadPlan(0, "cpu")
        return OffloadPlan(n, "cuda" if n < 0 or n > n_layers else "cuda (partial)")
    if not gpu_offload:
        return OffloadPlan(0, "cpu")  # the CPU build: nothing to decide, nothing to say
    if not vram_free:
        return OffloadPlan(0, "cpu", "n_gpu_layers auto: no NVIDIA GPU found; running on the CPU")
    margin = int(weights_bytes * MARGIN_FRACTION) + MARGIN_BYTES
    need = weights_bytes + kv_bytes + margin
    if need <= vram_free:
        return OffloadPlan(
            -1, "cuda", f"n_gpu_layers auto: all layers on the GPU ({_gib(need)} of {_gib(vram_free)} free)"
        )
    layers = max(1, n_layers)
    # the embedding/output matrices are one more "layer" in llama.cpp's count (-ngl n_layer+1)
    per_layer = (weights_bytes + kv_bytes) / (layers + 1)
    fit = int(max(0, vram_free - margin) // per_layer) if per_layer > 0 else 0
    fit = min(fit, layers)
    if fit <= 0:
        return OffloadPlan(
            0,
            "cpu",
            f"n_gpu_layers auto: not one layer fits in {_gib(vram_free)} of free VRAM; running on the CPU",
        )
    return OffloadPlan(
        fit,
        "cuda (partial)",
        f"n_gpu_layers auto: {fit} of {layers} layers on the GPU (the model and its KV need "
        f"{_gib(need)}, {_gib(vram_free)} free)",
    )


def _gib(n: float) -> str:
    return f"{n / 1024**3:.1f} GiB"


def free_vram() -> int | None:
    """Free bytes of the emptiest-looking GPU (the first), or None when there is none.

    Blocking (NVML or a ~0.1 s nvidia-smi call): the backend calls it on its load thread.
    """
    gpus = _gpus()
    if not gpus:
        return None
    g = gpus[0]  # llama.cpp's main GPU is device 0 unless CUDA_VISIBLE_DEVICES says otherwise
    free = g.get("vram_free_bytes")
    return int(free if free is not None else g.get("vram_total_bytes") or 0) or None


def _gpus() -> list[dict[str, Any]]:
    try:
        from ...hub import hardware
    except ImportError:  # pragma: no cover - the hub ships with the package
        return []
    # the whole profile (it fills a Jetson's GPU memory from RAM); its CPU/disk parts cost ~ms
    return list(hardware.build_profile(Path.home()).get("gpus") or [])
