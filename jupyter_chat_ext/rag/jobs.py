"""Background ingest jobs: one worker thread runs them in order; they persist, resume and cancel.

States: ``queued`` -> ``running`` -> ``done`` | ``error`` | ``cancelled``; a job whose process died
(or that a shutdown stopped) is ``interrupted``. ``actions`` says what a client may do next:
``cancel`` while queued or running, ``resume`` once interrupted, cancelled or failed. Resuming runs
the same parameters again under the same id: the ingest skips every file already committed (by its
hash), so the work redone after a crash is at most the batch that was in flight.

Cancel takes effect between files: the batch gathered so far is committed, then the job stops.
Records live in ``<data_dir>/jobs`` (rag/job_files.py); without a folder the runner keeps them in
memory only (plain tests, a read-only data dir).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..errors import ChatExtError, Conflict, NotFound
from .clean import printable_path
from .job_files import JobFiles

MAX_KEPT_JOBS = 200
#: progress between commits reaches the job file at most this often
PERSIST_EVERY_S = 2.0
ACTIVE = ("queued", "running")
RESUMABLE = ("interrupted", "cancelled", "error")
#: record fields kept on disk only (the public job dict stays small)
PRIVATE = ("params", "done_files", "pid")


@dataclass
class JobContext:
    """What a running job's work function gets: progress, a stop flag, a commit hook."""

    job_id: str
    resumed: bool
    progress: Callable[[dict[str, Any]], None]
    should_stop: Callable[[], bool]
    on_commit: Callable[[Any, dict[str, int]], None]


#: run(collection, params, ctx) -> a report (with to_dict() and a ``cancelled`` flag) or a dict
RunJob = Callable[[str, dict[str, Any], JobContext], Any]


def _actions(state: str) -> list[str]:
    return ["cancel"] if state in ACTIVE else (["resume"] if state in RESUMABLE else [])


class JobRunner:
    def __init__(self, folder: str | Path | None = None, run: RunJob | None = None) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._stops: dict[str, threading.Event] = {}
        self._locks: dict[str, IO[bytes] | None] = {}
        self._lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-ingest")
        self._files = JobFiles(folder) if folder is not None else None
        self._run = run
        self._closing = False
        #: jobs found queued/running on disk with no live owner at start-up (a crash)
        self.recovered: list[str] = []
        if self._files is not None:
            self._load()

    # -- records -------------------------------------------------------------------------------
    def _load(self) -> None:
        assert self._files is not None
        for record in self._files.load_all():
            if record.get("state") in ACTIVE and not self._files.owner_alive(record):
                record["state"] = "interrupted"
                record["finished_at"] = record.get("finished_at") or time.time()
                record["actions"] = _actions("interrupted")
                self._persist(record)
                self.recovered.append(record["id"])
            self._jobs[record["id"]] = record
        self._trim()

    def _persist(self, job: dict[str, Any]) -> None:
        if self._files is None:
            return
        try:
            self._files.save({k: v for k, v in job.items() if not k.startswith("_")})
        except OSError:  # a full or read-only data dir must not kill the ingest itself
            pass
        job["_saved_at"] = time.monotonic()

    @staticmethod
    def _public(job: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in job.items() if k not in PRIVATE and not k.startswith("_")}
        out["skipped"] = list(job.get("skipped") or [])
        out["actions"] = _actions(job["state"])
        return out

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
            if job is None:
                raise NotFound(f"no ingest job {job_id!r}")
            return self._public(job)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._public(j) for j in self._jobs.values()]

    def params(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._jobs[job_id].get("params") or {})

    # -- submit / resume / cancel --------------------------------------------------------------
    def submit(self, collection: str, params: dict[str, Any], *, kind: str = "paths") -> dict[str, Any]:
        """Queue a job that runs ``run(collection, params, ctx)``; params must be JSON-ready."""
        job_id = uuid.uuid4().hex
        job: dict[str, Any] = {
            "id": job_id,
            "kind": kind,
            "collection": collection,
            "paths": [printable_path(p) for p in params.get("paths", [])],
            "state": "queued",
            "files_total": 0,
            "files_done": 0,
            "chunks": 0,
            #: chunks gathered for the next commit (lost if the process dies now)
            "pending": 0,
            "embedded": 0,
            "batches": 0,
            "skipped": [],
            "rate": 0.0,
            "error": None,
            "attempts": 0,
            "cancel_requested": False,
            "created_at": time.time(),
            "started_at": None,
            "finished_at": None,
            "report": None,
            "params": params,
            "done_files": {},
        }
        with self._lock:
            self._jobs[job_id] = job
            self._trim()
        self._queue(job)
        return self.get(job_id)

    def resume(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
            if job is None:
                raise NotFound(f"no ingest job {job_id!r}")
            if job["state"] not in RESUMABLE:
                raise Conflict(
                    f"job {job_id} is {job['state']}; only an interrupted, cancelled or failed job resumes",
                    code="job_not_resumable",
                )
            job.update(state="queued", error=None, cancel_requested=False, finished_at=None)
        self._queue(job)
        return self.get(job_id)

    def cancel(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
            if job is None:
                raise NotFound(f"no ingest job {job_id!r}")
            state = job["state"]
            if state in ("done", "error", "cancelled"):
                raise Conflict(f"job {job_id} has already ended ({state})", code="job_finished")
            job["cancel_requested"] = True
            if state in ("queued", "interrupted"):  # nothing runs: it ends now
                self._finish(job, "cancelled")
            else:  # running: the ingest stops at the next file boundary
                self._stops.setdefault(job_id, threading.Event()).set()
                self._persist(job)
        return self.get(job_id)

    def _queue(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        with self._lock:
            self._stops[job_id] = threading.Event()
            if self._files is not None and job_id not in self._locks:
                self._locks[job_id] = self._files.hold(job_id)
            job["pid"] = os.getpid()
            # a resume supersedes any earlier submission of the same job still in the pool's queue
            ticket = job["_ticket"] = int(job.get("_ticket") or 0) + 1
            self._persist(job)
        self._pool.submit(self._execute, job, ticket)

    # -- the worker ------------------------------------------------------------------------------
    def _execute(self, job: dict[str, Any], ticket: int) -> None:
        job_id = job["id"]
        stop = self._stops[job_id]
        with self._lock:
            if job.get("_ticket") != ticket or job["state"] != "queued":  # superseded or cancelled
                return
            if self._closing:
                self._finish(job, "interrupted")
                return
            resumed = job["attempts"] > 0
            job.update(state="running", started_at=time.time(), attempts=job["attempts"] + 1)
            self._persist(job)

        def progress(values: dict[str, Any]) -> None:
            with self._lock:
                for key in ("files_total", "files_done", "pending", "embedded", "skipped", "rate"):
                    if key in values:
                        job[key] = values[key]
                if time.monotonic() - job.get("_saved_at", 0.0) >= PERSIST_EVERY_S:
                    self._persist(job)

        def on_commit(report: Any, files: dict[str, int]) -> None:
            with self._lock:
                job["done_files"].update(files)
                job["chunks"] = sum(job["done_files"].values())  # committed, over every attempt
                job["batches"] = int(job.get("batches") or 0) + 1
                job["files_done"] = max(job["files_done"], getattr(report, "files_done", 0))
                self._persist(job)

        ctx = JobContext(job_id, resumed, progress, stop.is_set, on_commit)
        try:
            assert self._run is not None, "a JobRunner needs a run function to execute jobs"
            report = self._run(job["collection"], dict(job["params"]), ctx)
            data = report.to_dict() if hasattr(report, "to_dict") else report
            with self._lock:
                job["report"] = data
                if isinstance(data, dict) and data.get("cancelled"):
                    state = "cancelled" if job["cancel_requested"] else "interrupted"
                else:
                    state = "done"
                self._finish(job, state)
        except ChatExtError as exc:
            with self._lock:
                job["error"] = {"code": exc.code, "message": exc.message}
                self._finish(job, "error")
        except Exception as exc:  # a job must end in a state the caller can read
            with self._lock:
                job["error"] = {"code": "ingest_failed", "message": f"{type(exc).__name__}: {exc}"}
                self._finish(job, "error")

    def _finish(self, job: dict[str, Any], state: str) -> None:
        job.update(state=state, finished_at=time.time())
        self._persist(job)
        if self._files is not None:
            self._files.release(self._locks.pop(job["id"], None))

    def wait(self, job_id: str, timeout: float = 600.0, poll_s: float = 0.05) -> dict[str, Any]:
        """Block until the job leaves queued/running (tests, the kernel's in-process path)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job["state"] not in ACTIVE or time.monotonic() > deadline:
                return job
            time.sleep(poll_s)

    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j["state"] not in ACTIVE]
        for job in finished[: max(0, len(self._jobs) - MAX_KEPT_JOBS)]:
            self._jobs.pop(job["id"], None)
            if self._files is not None:
                self._files.delete(job["id"])

    @property
    def closing(self) -> bool:
        return self._closing

    def close(self, wait: bool = True) -> None:
        """Stop: a running job ends at its next file boundary as ``interrupted`` (resumable)."""
        with self._lock:
            self._closing = True
            for job_id, job in self._jobs.items():
                if job["state"] in ACTIVE:
                    self._stops.setdefault(job_id, threading.Event()).set()
        self._pool.shutdown(wait=wait, cancel_futures=True)
        with self._lock:
            for job in self._jobs.values():
                if job["state"] == "queued":  # its future was cancelled: it never ran
                    self._finish(job, "interrupted")
