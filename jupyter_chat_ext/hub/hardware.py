"""The machine's hardware profile: what decides which model fits (GET /chat-ext/hardware).

Every reader takes the text it parses (``/proc/cpuinfo``, ``/proc/meminfo``, ``nvidia-smi`` output,
``/etc/nv_tegra_release``) so tests feed samples of a Jetson or a GPU box; ``hardware_profile`` reads
the real ones. GPUs come from NVML (``pynvml`` / ``nvidia-ml-py``) when it imports, else from
``nvidia-smi --query-gpu`` when it is on PATH, else from torch only when torch is *already*
imported (importing it costs ~2 s and ~250 MB: never on a request path). The profile is cached a
few seconds: the sidebar asks for it with every catalog and file listing.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

#: CPU flags worth showing (llama.cpp picks kernels by these); the rest of /proc/cpuinfo is noise
INTERESTING_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "avx_vnni",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    # aarch64 "Features:" names
    "asimd",
    "asimddp",
    "sve",
    "sve2",
    "i8mm",
    "bf16",
    "fphp",
    "asimdhp",
)
#: seconds a profile is reused (free RAM moves, but not within one page load)
CACHE_S = 5.0
NVIDIA_SMI_QUERY = "index,name,memory.total,memory.free"


# -- CPU ------------------------------------------------------------------------------------------
def parse_cpuinfo(text: str, machine: str | None = None) -> dict[str, Any]:
    """``{"model", "features"}`` from /proc/cpuinfo (x86 ``flags``, aarch64 ``Features``).

    On aarch64 ``asimd`` is NEON: it is reported as ``neon`` too, the name people look for.
    """
    model: str | None = None
    flags: set[str] = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key in ("model name", "hardware", "cpu model") and not model and value:
            model = value
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    machine = (machine or platform.machine()).lower()
    features = [f for f in INTERESTING_FLAGS if f in flags]
    if "asimd" in flags or (machine in ("aarch64", "arm64") and not flags):
        features.insert(0, "neon")  # ASIMD is mandatory on ARMv8: NEON is there even unlisted
    return {"model": model, "features": features}


def cpu_profile(cpuinfo_text: str | None = None) -> dict[str, Any]:
    if cpuinfo_text is None:
        cpuinfo_text = _read_text("/proc/cpuinfo") or ""
    info = parse_cpuinfo(cpuinfo_text)
    if not info["model"]:
        info["model"] = platform.processor() or None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cores": int(cores or 1), **info}


# -- memory and disk ------------------------------------------------------------------------------
def parse_meminfo(text: str) -> dict[str, int]:
    """``{"total_bytes", "available_bytes"}`` from /proc/meminfo (values there are in kB)."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if sep and rest.split():
            try:
                values[key.strip()] = int(rest.split()[0]) * 1024
            except ValueError:
                continue
    total = values.get("MemTotal", 0)
    available = values.get("MemAvailable", values.get("MemFree", 0) + values.get("Cached", 0))
    return {"total_bytes": total, "available_bytes": available}


def ram_profile(meminfo_text: str | None = None) -> dict[str, int]:
    if meminfo_text is not None:
        return parse_meminfo(meminfo_text)
    try:
        import psutil

        vm = psutil.virtual_memory()
        return {"total_bytes": int(vm.total), "available_bytes": int(vm.available)}
    except ImportError:
        return parse_meminfo(_read_text("/proc/meminfo") or "")


def disk_profile(path: str | Path) -> dict[str, Any]:
    """Free bytes where models go (the nearest existing parent: the folder may not exist yet)."""
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        free = 0
    return {"path": str(path), "free_bytes": int(free)}


# -- GPUs -----------------------------------------------------------------------------------------
def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """GPUs from ``nvidia-smi --query-gpu=index,name,memory.total,memory.free --format=csv,noheader,nounits``.

    Memory comes in MiB. A Jetson's nvidia-smi says ``[N/A]`` for memory: such a row keeps
    ``vram_total_bytes`` 0 and the caller fills it from RAM (unified memory).
    """
    gpus: list[dict[str, Any]] = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 4:
            continue
        try:
            index = int(parts[0])
        except ValueError:
            continue  # a header line
        gpus.append(
            {
                "index": index,
                "name": parts[1],
                "vram_total_bytes": _mib(parts[2]) or 0,
                "vram_free_bytes": _mib(parts[3]),
                "source": "nvidia-smi",
            }
        )
    return gpus


def _mib(value: str) -> int | None:
    try:
        return int(float(value) * 1024 * 1024)
    except ValueError:
        return None


def _gpus_nvml() -> list[dict[str, Any]] | None:
    try:
        import pynvml  # nvidia-ml-py's module name
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver: NVML is installed but there is no GPU to ask
        return None
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            try:
                mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
                total, free = int(mem.total), int(mem.free)
            except Exception:  # Jetson: NVML has no framebuffer memory to report
                total, free = 0, None
            gpus.append(
                {
                    "index": i,
                    "name": name.decode() if isinstance(name, bytes) else str(name),
                    "vram_total_bytes": total,
                    "vram_free_bytes": free,
                    "source": "nvml",
                }
            )
        return gpus
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _gpus_nvidia_smi() -> list[dict[str, Any]] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, f"--query-gpu={NVIDIA_SMI_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_nvidia_smi(out.stdout) if out.returncode == 0 else None


def _gpus_torch() -> list[dict[str, Any]] | None:
    torch = sys.modules.get("torch")  # only when something else already paid for the import
    if torch is None:
        return None
    try:
        if not torch.cuda.is_available():
            return []
        gpus = []
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            try:
                free, _total = torch.cuda.mem_get_info(i)
            except Exception:
                free = None
            gpus.append(
                {
                    "index": i,
                    "name": props.name,
                    "vram_total_bytes": int(props.total_memory),
                    "vram_free_bytes": None if free is None else int(free),
                    "source": "torch",
                }
            )
        return gpus
    except Exception:
        return None


def gpu_profile() -> list[dict[str, Any]]:
    for probe in (_gpus_nvml, _gpus_nvidia_smi, _gpus_torch):
        found = probe()
        if found:
            return found
    return []


# -- Jetson ---------------------------------------------------------------------------------------
def parse_tegra_release(text: str | None) -> dict[str, Any]:
    """``/etc/nv_tegra_release`` (``# R36 (release), REVISION: 4.0, ...``) -> the Jetson facts.

    A Jetson's GPU shares the board's RAM (unified memory): what fits in RAM fits "on the GPU".
    """
    if not text or not text.strip():
        return {"detected": False, "release": None, "unified_memory": False}
    first = text.strip().splitlines()[0].lstrip("# ").strip()
    release = first
    parts = {k.strip().upper(): v.strip() for k, _, v in (p.partition(":") for p in first.split(",")) if v}
    major = first.split()[0] if first.split() else ""
    if major.startswith("R") and "REVISION" in parts:
        release = f"{major}.{parts['REVISION']}"  # L4T version, e.g. R36.4.0
    return {"detected": True, "release": release, "unified_memory": True}


def jetson_profile(tegra_text: str | None = None) -> dict[str, Any]:
    if tegra_text is None:
        tegra_text = _read_text("/etc/nv_tegra_release")
    return parse_tegra_release(tegra_text)


# -- llama.cpp ------------------------------------------------------------------------------------
#: names in llama_print_system_info / the ggml backend registry -> the names we report
_BACKEND_NAMES = {
    "CUDA": "CUDA",
    "METAL": "Metal",
    "VULKAN": "Vulkan",
    "SYCL": "SYCL",
    "HIP": "ROCm",
    "ROCM": "ROCm",
    "OPENCL": "OpenCL",
    "CANN": "CANN",
    "BLAS": "BLAS",
}


def parse_llama_system_info(text: str) -> list[str]:
    """Backends named in ``llama_print_system_info()`` (``CUDA : ARCHS = 890 | ... | CPU : SSE3 = 1``)."""
    found = ["CPU"]
    upper = text.upper()
    for key, name in _BACKEND_NAMES.items():
        if name in found:
            continue
        if f"{key} :" in upper or f"{key}:" in upper or f"{key} = 1" in upper or f"GGML_{key}" in upper:
            found.append(name)
    return found


def llama_cpp_profile() -> dict[str, Any]:
    """What the installed llama-cpp-python build offers (it imports in ~0.1 s: no model loads)."""
    try:
        import llama_cpp
    except Exception:  # not installed, or a broken build: the transformers backend serves GGUF
        return {"installed": False, "version": None, "gpu_offload": False, "backends": []}
    try:
        raw = llama_cpp.llama_print_system_info()
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    except Exception:
        text = ""
    try:
        offload = bool(llama_cpp.llama_supports_gpu_offload())
    except Exception:
        offload = False
    return {
        "installed": True,
        "version": getattr(llama_cpp, "__version__", None),
        "gpu_offload": offload,
        "backends": parse_llama_system_info(text),
    }


# -- the whole profile ----------------------------------------------------------------------------
def build_profile(
    models_dir: str | Path,
    *,
    cpuinfo_text: str | None = None,
    meminfo_text: str | None = None,
    tegra_text: str | None = None,
    gpus: list[dict[str, Any]] | None = None,
    llama: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The /hardware object; every part can be given (tests) or read from this machine."""
    ram = ram_profile(meminfo_text)
    jetson = jetson_profile(tegra_text)
    gpu_list = [dict(g) for g in (gpu_profile() if gpus is None else gpus)]
    if jetson["unified_memory"]:
        if not gpu_list:  # JetPack before 6 has no nvidia-smi, and NVML does not see the iGPU
            gpu_list = [
                {
                    "index": 0,
                    "name": "Jetson integrated GPU",
                    "vram_total_bytes": 0,
                    "vram_free_bytes": None,
                    "source": "nv_tegra_release",
                }
            ]
        for g in gpu_list:  # a Jetson GPU's memory is the board's RAM
            if not g.get("vram_total_bytes"):
                g["vram_total_bytes"] = ram["total_bytes"]
                g["vram_free_bytes"] = ram["available_bytes"]
    return {
        "cpu": cpu_profile(cpuinfo_text),
        "ram": ram,
        "disk": disk_profile(models_dir),
        "gpus": gpu_list,
        "jetson": jetson,
        "llama_cpp": llama_cpp_profile() if llama is None else llama,
    }


_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_cache_lock = threading.Lock()


def hardware_profile(models_dir: str | Path, *, max_age_s: float = CACHE_S) -> dict[str, Any]:
    """This machine's profile, reused for ``max_age_s`` (blocking: nvidia-smi may take ~0.1 s)."""
    key = str(models_dir)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < max_age_s:
            return hit[1]
    profile = build_profile(models_dir)
    with _cache_lock:
        _cache[key] = (time.monotonic(), profile)
    return profile


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
