"""The transfer of a pull: bytes into our own ``.incomplete`` files, progress, cancel, a thread per pull.

The bytes go through ``huggingface_hub.file_download.http_get`` (its headers, retries, Range
resume). Each chunk feeds the job's progress (bytes_done, rate, eta_s) and checks its stop flag;
the transfer runs on a thread of its own so a cancel or a shutdown never waits for a stalled
connection. LFS files are hashed as they arrive (verify.HashingFile).
"""

from __future__ import annotations

import errno
import shutil
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..errors import ChatExtError, Conflict, ModelError, StorageFull
from . import verify
from .hub_errors import hub_endpoint, hub_token, translate

#: http_get reads the Hub in chunks of huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE (10 MiB) and
#: our progress hook (where cancel is checked) runs once a chunk: 1 MiB keeps cancel and progress
#: prompt on a slow link; bench/bench_pull.py measures the throughput against hf_hub_download
CHUNK_BYTES = 1024 * 1024
#: the download thread holds the GIL for most of each chunk (httpx parses 64 KiB reads in Python), and
#: the server's event loop waits for it: /api/status p99 during a pull was 116 ms against 54 ms idle
#: on the loaded 2-core test machine. A 1 ms sleep at most every 20 ms hands the loop the GIL
#: (bench/bench_pull.py: p99 during a pull vs idle, and the throughput it costs)
YIELD_EVERY_S = 0.02
YIELD_S = 0.001
#: a resume waits this long for the previous attempt's transfer thread to notice its stop flag
STOPPING_WAIT_S = 60.0
#: the transfer thread of each partial folder (one writer per file, across attempts)
_TRANSFERS: dict[str, threading.Thread] = {}
_TRANSFERS_LOCK = threading.Lock()
#: the rate is the bytes of the last few seconds
RATE_WINDOW_S = 5.0


class PullStopped(Exception):
    """Raised from the progress hook when the job is cancelled or the server stops."""


class _Meter:
    """Bytes done, rate and eta for the job record, from http_get's per-chunk progress calls."""

    def __init__(self, done: int, total: int, ctx: Any) -> None:
        self.done, self.total, self.ctx = done, total, ctx
        self.samples: deque[tuple[float, int]] = deque([(time.monotonic(), done)])
        self.yielded = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        self.samples.append((now, self.done))
        while len(self.samples) > 2 and now - self.samples[0][0] > RATE_WINDOW_S:
            self.samples.popleft()
        t0, b0 = self.samples[0]
        rate = (self.done - b0) / (now - t0) if now > t0 else 0.0
        left = max(0, self.total - self.done)
        self.ctx.progress(
            {
                "bytes_done": self.done,
                "bytes_total": self.total,
                "progress": round(self.done / self.total, 4) if self.total else None,
                "rate": round(rate, 1),
                "eta_s": round(left / rate, 1) if rate > 0 else None,
            }
        )
        if self.ctx.should_stop():
            raise PullStopped()
        if now - self.yielded >= YIELD_EVERY_S:
            time.sleep(YIELD_S)
            self.yielded = time.monotonic()


def _bar_class(meter: _Meter) -> type:
    """A tqdm stand-in for http_get's ``tqdm_class``: each ``update(n)`` feeds the meter."""

    class Bar:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.n = int(kwargs.get("initial") or 0)

        def update(self, n: float | None = 1) -> None:
            self.n += int(n or 0)
            meter.add(int(n or 0))

        def __enter__(self) -> Bar:
            return self

        def __exit__(self, *exc: Any) -> None:
            return None

        def close(self) -> None:
            pass

    return Bar


def _download(
    plan: dict[str, Any], entry: dict[str, Any], target: Path, meter: _Meter, should_stop: Any
) -> bool:
    """Append the missing bytes of one file to ``target`` (resuming from what it holds); True when
    its bytes are the Hub's (sha256 hashed as they arrive for LFS files, the git blob id otherwise)."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    constants.DOWNLOAD_CHUNK_SIZE = min(constants.DOWNLOAD_CHUNK_SIZE, CHUNK_BYTES)
    have = target.stat().st_size if target.exists() else 0
    if have > entry["size"]:
        target.unlink()
        have = 0
    endpoint, token = hub_endpoint(), hub_token() or False
    url = hf_hub_url(plan["repo"], entry["name"], revision=plan["revision"], endpoint=endpoint)
    try:
        with verify.HashingFile(target, should_stop) as f:
            if have < entry["size"]:
                # the file's real location (the Hub redirects LFS files to a CDN), as hf_hub_download does
                location = get_hf_file_metadata(url, token=token, endpoint=endpoint).location
                http_get(
                    location,
                    f,
                    resume_size=have,
                    headers=build_hf_headers(token=token),
                    expected_size=entry["size"],
                    tqdm_class=_bar_class(meter),
                )
            streamed = f.hexdigest()
    except (PullStopped, ChatExtError, InterruptedError):
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # the disk filled up meanwhile: resumable later
            raise StorageFull(
                f"the disk of {target.parent} is full: free space, then resume the pull"
            ) from None
        raise translate(exc, plan["repo"], entry["name"]) from None
    except Exception as exc:
        raise translate(exc, plan["repo"], entry["name"]) from None
    if entry.get("sha256"):
        return streamed == entry["sha256"].lower()
    return verify.matches(target, sha256=None, blob_id=entry.get("blob_id"), should_stop=should_stop)


def fetch_all(plan: dict[str, Any], part: Path, ctx: Any) -> None:
    """Every file of the plan into ``part``, verified (the bytes already there are kept)."""
    part.mkdir(parents=True, exist_ok=True)
    done = 0
    for entry in plan["files"]:
        for candidate in (part / entry["name"], part / (entry["name"] + ".incomplete")):
            if candidate.is_file():
                done += min(candidate.stat().st_size, entry["size"])
    meter = _Meter(done, int(plan["bytes_total"]), ctx)
    meter.add(0)  # the bytes an earlier attempt left, before the first new one arrives
    for entry in plan["files"]:
        final = part / entry["name"]
        if final.is_file() and final.stat().st_size == entry["size"]:
            continue  # downloaded and verified by an earlier attempt
        incomplete = part / (entry["name"] + ".incomplete")
        incomplete.parent.mkdir(parents=True, exist_ok=True)
        if not _download(plan, entry, incomplete, meter, ctx.should_stop):
            shutil.rmtree(part, ignore_errors=True)
            raise ModelError(
                f"{entry['name']} from {plan['repo']} does not match the Hub's checksum; the download "
                "was deleted (pull again; if it repeats, the mirror or a proxy alters the file)",
                code="checksum_mismatch",
            )
        incomplete.replace(final)


def on_own_thread(key: str, fn: Any, stop: threading.Event) -> None:
    """``fn()`` on a transfer thread; PullStopped as soon as ``stop`` is set, even while the network
    stalls (the thread itself ends at its next chunk or read timeout). So a cancel, or Jupyter's
    shutdown, never waits for a stalled download; a resume waits for the old thread first, so two
    transfers never append to one file."""
    with _TRANSFERS_LOCK:
        old = _TRANSFERS.get(key)
    if old is not None and old.is_alive():
        old.join(timeout=STOPPING_WAIT_S)
        if old.is_alive():
            raise Conflict(
                "the previous attempt of this pull is still stopping (a stalled connection); resume it again",
                code="job_not_resumable",
            )
    outcome: dict[str, BaseException] = {}

    def work() -> None:
        try:
            fn()
        except BaseException as exc:  # handed to the job's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="pull-transfer", daemon=True)
    with _TRANSFERS_LOCK:
        _TRANSFERS[key] = thread
    thread.start()
    while thread.is_alive():
        if stop.wait(0.2) and thread.is_alive():
            raise PullStopped()
    if "error" in outcome:
        raise outcome["error"]
