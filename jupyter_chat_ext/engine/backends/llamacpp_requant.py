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
``Settings.model_cache_dir``, named by the source's *content* (``content_key``: its size and a hash
of its first and last MiB), so the same weights share one copy whatever path they sit at (every
venv and clean clone installs the packaged model at another path; keyed by path, a test machine's
cache held 42 copies of it, 5.8 GB). It is written to a temp name and renamed, so two servers
loading at once never read half a file. ``prune`` drops stale copies (its docstring has the rule).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from ...errors import ModelError

log = logging.getLogger(__name__)

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


#: bytes hashed at each end of the source for its content key
KEY_SPAN = 1 << 20
#: ``prune``: another copy of the same model (same file stem) goes once unused this long, unless it
#: is the most recently used one besides the copy in use (two versions used in turn keep theirs)
SAME_STEM_STALE_S = 3600.0
#: ``prune``: any copy goes once unused this long (its model may be gone)
ANY_STALE_S = 30 * 86400.0
#: ``prune``: a temp file this old is a crashed writer's (a copy is written in well under this)
TMP_STALE_S = 3600.0
_keys: dict[tuple[str, str], str] = {}


def content_key(source: str) -> str:
    """The source's content identity: sha256 of its size, first and last ``KEY_SPAN`` bytes (a GGUF
    starts with its whole header; two different weights files agreeing on size, header, first and
    last MiB are not a case that occurs). Reads 2 MiB, a few ms."""
    h = hashlib.sha256(b"q8_0|")
    with open(source, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        h.update(str(size).encode() + b"|")
        h.update(fh.read(KEY_SPAN))
        if size > KEY_SPAN:
            fh.seek(max(KEY_SPAN, size - KEY_SPAN))
            h.update(fh.read(KEY_SPAN))
    return h.hexdigest()[:16]


def copy_path(source: str, fingerprint: str, cache_dir: Path) -> Path:
    """Where the copy of ``source`` lives: ``<stem>-<content key>.q8_0.gguf``, or a copy of the same
    weights under another name when there is one. ``fingerprint`` (the registry's
    name:size:mtime) only memoizes the content key within the process."""
    memo = (str(source), fingerprint)
    if memo not in _keys:
        _keys[memo] = content_key(source)
    named = cache_dir / f"{Path(source).stem}-{_keys[memo]}.q8_0.gguf"
    if not named.is_file():
        for other in sorted(cache_dir.glob(f"*-{_keys[memo]}.q8_0.gguf")):  # same bytes, other name
            return other
    return named


def _mark_used(path: Path) -> None:
    try:  # the mtime says when the copy was last loaded (atime is unreliable: relatime, noatime)
        os.utime(path)
    except OSError:  # a read-only cache: pruning then keeps it longer, nothing worse
        pass


#: the name of a copy this module wrote (``copy_path``): prune touches nothing else in the folder,
#: so a user's own ``model.q8_0.gguf`` in a model_cache_dir they chose is never deleted
COPY_NAME = re.compile(r".+-[0-9a-f]{16}\.q8_0\.gguf")


def _stem(copy: Path) -> str:
    return copy.name.removesuffix(".q8_0.gguf").rsplit("-", 1)[0]


def prune(cache_dir: Path, in_use: Path, *, source_stem: str = "", now: float | None = None) -> list[Path]:
    """Delete stale copies beside ``in_use`` (the copy just loaded); returns what was deleted.

    The rule: (1) other copies of the same model (``<stem>-<key>.q8_0.gguf`` with the stem of
    ``in_use`` or ``source_stem``: older weights of that name, or copies keyed the old way, by
    path) go once unused for ``SAME_STEM_STALE_S``, except the most recently used of them; (2) any
    copy goes once unused for ``ANY_STALE_S``; (3) temp files of writers that died go after
    ``TMP_STALE_S``. "Used" is the mtime, set at each load.

    Another server may be reading a deleted copy: on Linux and macOS unlinking removes the name
    only, a process that mmapped the file keeps reading it until it unmaps, and the disk space comes
    back then. On Windows a file open or mapped elsewhere cannot be deleted (PermissionError): it is
    skipped and tried again at a later load. A server that loads after the deletion makes a copy.
    """
    now = time.time() if now is None else now
    gone: list[Path] = []

    def age(p: Path) -> float:
        try:
            return now - p.stat().st_mtime
        except OSError:
            return -1.0  # vanished meanwhile

    def drop(p: Path) -> None:
        try:
            p.unlink()
            gone.append(p)
        except OSError:  # gone already, or open elsewhere on Windows: a later load tries again
            pass

    stems = {_stem(in_use), source_stem}
    copies = [p for p in cache_dir.glob("*.q8_0.gguf") if p != in_use and COPY_NAME.fullmatch(p.name)]
    same = sorted((p for p in copies if _stem(p) in stems), key=age)
    for p in same[1:]:
        if age(p) > SAME_STEM_STALE_S:
            drop(p)
    for p in copies:
        if p not in gone and age(p) > ANY_STALE_S:
            drop(p)
    for p in cache_dir.glob(".*.q8_0.gguf.*.tmp"):
        if age(p) > TMP_STALE_S:
            drop(p)
    return gone


def q8_copy(ll: Any, source: str, fingerprint: str, cache_dir: Path) -> tuple[Path, float]:
    """The cached Q8_0 copy of ``source`` (made now when missing) and the seconds spent making it."""
    target = copy_path(source, fingerprint, cache_dir)
    if target.is_file():
        _mark_used(target)
        _prune_quietly(cache_dir, target, Path(source).stem)
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
    spent = time.perf_counter() - started
    _prune_quietly(cache_dir, target, Path(source).stem)
    return target, spent


def _prune_quietly(cache_dir: Path, in_use: Path, source_stem: str) -> None:
    try:
        gone = prune(cache_dir, in_use, source_stem=source_stem)
    except OSError as exc:  # pruning never fails a load
        log.warning("could not prune the Q8_0 copies in %s: %s", cache_dir, exc)
        return
    if gone:
        log.info("pruned %d stale Q8_0 copies from %s", len(gone), cache_dir)
