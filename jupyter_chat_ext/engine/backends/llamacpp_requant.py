"""Re-encode GGUF weights whose type has no fast CPU matrix multiply as Q8_0, once, cached.

llama.cpp's CPU prompt processing goes through tinyBLAS (llamafile sgemm) or a repacked kernel for
F16/BF16, Q8_0, Q4_0, Q4_K and IQ4_NL; the legacy "with offset" types Q4_1, Q5_0 and Q5_1 fall
back to one dot product per row and column. The packaged SmolLM2 is Q4_1 (its token embedding,
also the tied output matrix, is Q8_0 already). Measured on its file, 2 AVX2 cores, prompts of
153/320/320 tokens (rerun: bench/bench_requant.py):

- prefill 838/1792/1937 ms as Q4_1, 467/1061/1041 ms as Q8_0 (1.7-1.9x); decode 72 -> 75 tok/s
  (another run, other prompts: 68 -> 79);
- a Q4_1 block is ``d*q + m`` with 16 levels and Q8_0 keeps 255 levels of the same block of 32,
  so the copy is near lossless: mean KL to the Q4_1 logits 0.006-0.008 nats a token, perplexity
  within 1 % (Q4_0, also fast, costs 0.26-0.40 nats of KL and +5-30 % perplexity: not offered).

Only on the CPU (offloaded layers use the GPU's own kernels) and only for files up to
``MAX_SOURCE_BYTES``: the copy is ~1.5x the Q4_1 file. The copy lives in
``Settings.model_cache_dir``, named by the source's identity, written to a temp name and renamed,
so two servers loading at once never read half a file.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from ...errors import ModelError

#: general.file_type values (llama_ftype) whose matmuls have no fast CPU kernel
SLOW_CPU_TYPES = {3: "Q4_1", 8: "Q5_0", 9: "Q5_1"}
#: larger sources stay as they are (a 7B Q4_1 would become a 7 GB Q8_0 copy)
MAX_SOURCE_BYTES = 2 << 30
_Q8_0 = 7  # LLAMA_FTYPE_MOSTLY_Q8_0


def wanted(file_type: Any, path: str, *, enabled: bool, on_cpu: bool) -> bool:
    """Whether the CPU copy pays: the setting is on, the weights run on the CPU, the type is slow."""
    if not (enabled and on_cpu) or not isinstance(file_type, int) or file_type not in SLOW_CPU_TYPES:
        return False
    try:
        return os.path.getsize(path) <= MAX_SOURCE_BYTES
    except OSError:
        return False


def copy_path(source: str, fingerprint: str, cache_dir: Path) -> Path:
    key = hashlib.sha256(f"{source}|{fingerprint}|q8_0".encode()).hexdigest()[:16]
    return cache_dir / f"{Path(source).stem}-{key}.q8_0.gguf"


def q8_copy(ll: Any, source: str, fingerprint: str, cache_dir: Path) -> tuple[Path, float]:
    """The cached Q8_0 copy of ``source`` (made now when missing) and the seconds spent making it."""
    target = copy_path(source, fingerprint, cache_dir)
    if target.is_file():
        return target, 0.0
    started = time.perf_counter()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    params = ll.llama_model_quantize_default_params()
    params.ftype = _Q8_0
    params.allow_requantize = True
    params.nthread = max(1, min(4, os.cpu_count() or 1))
    try:
        rc = ll.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0:
            raise ModelError(f"llama.cpp could not re-encode {source} as Q8_0 (code {rc})")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target, time.perf_counter() - started
