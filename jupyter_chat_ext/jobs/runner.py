"""Background jobs of every kind (ingest, upload, pull): one record shape, persisted, resumable.

States: ``queued`` -> ``running`` -> ``done`` | ``failed`` | ``cancelled``; a job whose process died
(or that a shutdown stopped) is ``interrupted``. ``actions`` says what a client may do next:
``cancel`` while queued or running, ``resume`` once interrupted, cancelled or failed. Resuming runs
the same parameters again under the same id; each kind's run function skips the work already done
(ingest: files committed, by hash; pull: the bytes already on disk).

Kinds are registered with a run function, a lane and a crash policy (:class:`JobKind`). Each lane has
its own worker threads, so a pull never waits behind an ingest. After a crash a kind with
``auto_resume`` starts its interrupted jobs again when it is registered; the others wait for a
``resume``. Cancel is cooperative: the run function polls ``ctx.should_stop()`` (ingest between
files, pull between chunks). Records live in ``<data_dir>/jobs`` (files.py); without a folder the
runner keeps them in memory only (plain tests, a read-only data dir).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ChatExtError, Conflict, NotFound, Unavailable
from .files import JobFiles

MAX_KEPT_JOBS = 200
#: progress between commits reaches the job file at most this often
PERSIST_EVERY_S = 2.0
ACTIVE = ("queued", "running")
ENDED = ("done", "failed", "cancelled")
RESUMABLE = ("interrupted", "cancelled", "failed")
#: record fields kept on disk only (the public job dict stays small)
PRIVATE = ("params", "done_files", "pid", "cancel_requested_at")
#: fields a run function may not overwrite through ``ctx.progress``
RESERVED = (
    "id",
    "kind",
    "state",
    "error",
    "attempts",
    "created_at",
    "started_at",
    "finished_at",
    "params",
    "pid",
)


@dataclass
class JobContext:
    """What a running job's work function gets: progress, a stop flag, a way to change its record."""

    job_id: str
    resumed: bool
    progress: Callable[[dict[str, Any]], None]
    should_stop: Callable[[], bool]
    #: ``update(fn)``: ``fn(record)`` under the runner's lock, then the record is written at once
    update: Callable[[Callable[[dict[str, Any]], None]], None]
    stop_event: threading.Event = field(default_factory=threading.Event)


#: run(record, ctx) -> a report (with to_dict() and a ``cancelled`` flag), a dict, or None.
#: ``record`` is a copy of the job's record, ``params`` included.
RunJob = Callable[[dict[str, Any], JobContext], Any]


@dataclass
class JobKind:
    name: str
    run: RunJob
    #: jobs of one lane share its workers; lanes never wait for each other
    lane: str
    workers: int = 1
    #: restart jobs a crash left interrupted as soon as the kind is registered
    auto_resume: bool = False


def _actions(state: str) -> list[str]:
    return ["cancel"] if state in ACTIVE else (["resume"] if state in RESUMABLE else [])


class JobRunner:
    def __init__(self, folder: str | Path | None = None) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._stops: dict[str, threading.Event] = {}
        self._locks: dict[str, IO[bytes] | None] = {}
        self._lock = threading.RLock()
        self._kinds: dict[str, JobKind] = {}
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._closed_lanes: set[str] = set()
        self._files = JobFiles(folder) if folder is not None else None
        #: jobs found queued/running on disk with no live owner at start-up (a crash)
        self.recovered: list[str] = []
        if self._files is not None:
            self._load()

    # -- kinds ---------------------------------------------------------------------------------
    def register(self, kind: JobKind) -> None:
        """Make jobs of ``kind.name`` runnable (their records may already be listed)."""
        with self._lock:
            self._kinds[kind.name] = kind
            self._closed_lanes.discard(kind.lane)
            if kind.lane not in self._pools:
                self._pools[kind.lane] = ThreadPoolExecutor(
                    max_workers=kind.workers, thread_name_prefix=f"jobs-{kind.lane}"
                )
            again = [j for j in self.recovered if self._jobs.get(j, {}).get("kind") == kind.name]
        if kind.auto_resume:
            for job_id in again:
                if self._jobs[job_id]["state"] == "interrupted":
                    self.resume(job_id)

    def has_kind(self, name: str) -> bool:
        return name in self._kinds

    # -- records -------------------------------------------------------------------------------
    def _load(self) -> None:
        assert self._files is not None
        for record in self._files.load_all():
            if record.get("kind") == "paths":  # the name ingest jobs had before every kind shared this
                record["kind"] = "ingest"
            if record.get("state") == "error":  # and their failed state
                record["state"] = "failed"
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
        except OSError:  # a full or read-only data dir must not kill the job itself
            pass
        job["_saved_at"] = time.monotonic()

    @staticmethod
    def _public(job: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in job.items() if k not in PRIVATE and not k.startswith("_")}
        if "skipped" in job:
            out["skipped"] = list(job.get("skipped") or [])
        if out.get("progress") is None and job.get("files_total"):
            out["progress"] = min(1.0, int(job.get("files_done") or 0) / int(job["files_total"]))
        out.setdefault("progress", None)
        if job["state"] == "done":
            out["progress"] = 1.0
        out["actions"] = _actions(job["state"])
        return out

    def _job(self, job_id: Any) -> dict[str, Any]:
        job = self._jobs.get(job_id) if isinstance(job_id, str) else None
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self._public(self._job(job_id))

    def list(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Every job (oldest first), or those of one kind (``kind`` may also be a tuple of kinds)."""
        kinds = (kind,) if isinstance(kind, str) else kind
        with self._lock:
            return [self._public(j) for j in self._jobs.values() if kinds is None or j["kind"] in kinds]

    def params(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._job(job_id).get("params") or {})

    def find(self, kind: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The newest job of ``kind`` whose record (params included) ``match`` accepts, as public."""
        with self._lock:
            for job in reversed(list(self._jobs.values())):
                if job["kind"] == kind and match(job):
                    return self._public(job)
        return None

    # -- submit / resume / cancel --------------------------------------------------------------
    def submit(
        self, kind: str, params: dict[str, Any], fields: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Queue a job of ``kind`` (params must be JSON-ready; ``fields`` are its kind's public fields)."""
        if kind not in self._kinds:
            raise Unavailable(f"jobs of kind {kind!r} cannot run here", code="job_kind_unavailable")
        job_id = uuid.uuid4().hex
        job: dict[str, Any] = {
            "id": job_id,
            "kind": kind,
            "state": "queued",
            "progress": None,
            "rate": 0.0,
            "error": None,
            "attempts": 0,
            "cancel_requested": False,
            "created_at": time.time(),
            "started_at": None,
            "finished_at": None,
            "report": None,
            **(fields or {}),
            "params": params,
        }
        with self._lock:
            self._jobs[job_id] = job
            self._trim()
        self._queue(job)
        return self.get(job_id)

    def resume(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(job_id)
            if job["state"] not in RESUMABLE:
                raise Conflict(
                    f"job {job_id} is {job['state']}; only an interrupted, cancelled or failed job resumes",
                    code="job_not_resumable",
                )
            if job["kind"] not in self._kinds:
                raise Unavailable(
                    f"jobs of kind {job['kind']!r} cannot run here", code="job_kind_unavailable"
                )
            job.update(state="queued", error=None, cancel_requested=False, finished_at=None)
        self._queue(job)
        return self.get(job_id)

    def cancel(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._job(job_id)
            state = job["state"]
            if state in ENDED:
                raise Conflict(f"job {job_id} has already ended ({state})", code="job_finished")
            job["cancel_requested"] = True
            if state in ("queued", "interrupted"):  # nothing runs: it ends now
                self._finish(job, "cancelled")
            else:  # running: the work stops at its next check of should_stop
                self._stops.setdefault(job_id, threading.Event()).set()
                self._persist(job)
        return self.get(job_id)

    def _queue(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        with self._lock:
            lane = self._kinds[job["kind"]].lane
            if lane in self._closed_lanes:
                raise Unavailable("the job runner is shutting down", code="job_kind_unavailable")
            self._stops[job_id] = threading.Event()
            if self._files is not None and job_id not in self._locks:
                self._locks[job_id] = self._files.hold(job_id)
            job["pid"] = os.getpid()
            # a resume supersedes any earlier submission of the same job still in the pool's queue
            ticket = job["_ticket"] = int(job.get("_ticket") or 0) + 1
            self._persist(job)
            pool = self._pools[lane]
        pool.submit(self._execute, job, ticket)

    # -- the worker ------------------------------------------------------------------------------
    def _execute(self, job: dict[str, Any], ticket: int) -> None:
        job_id = job["id"]
        stop = self._stops[job_id]
        with self._lock:
            if job.get("_ticket") != ticket or job["state"] != "queued":  # superseded or cancelled
                return
            kind = self._kinds[job["kind"]]
            if kind.lane in self._closed_lanes:
                self._finish(job, "interrupted")
                return
            resumed = job["attempts"] > 0
            job.update(state="running", started_at=time.time(), attempts=job["attempts"] + 1)
            self._persist(job)
            record = {k: v for k, v in job.items() if not k.startswith("_")}

        def progress(values: dict[str, Any]) -> None:
            with self._lock:
                for key, value in values.items():
                    if key not in RESERVED:
                        job[key] = value
                if time.monotonic() - job.get("_saved_at", 0.0) >= PERSIST_EVERY_S:
                    self._persist(job)

        def update(fn: Callable[[dict[str, Any]], None]) -> None:
            with self._lock:
                fn(job)
                self._persist(job)

        ctx = JobContext(job_id, resumed, progress, stop.is_set, update, stop)
        try:
            report = kind.run(record, ctx)
            data = report.to_dict() if hasattr(report, "to_dict") else report
            with self._lock:
                job["report"] = data
                stopped = (isinstance(data, dict) and data.get("cancelled")) or (
                    data is None and stop.is_set()
                )
                state = ("cancelled" if job["cancel_requested"] else "interrupted") if stopped else "done"
                self._finish(job, state)
        except ChatExtError as exc:
            with self._lock:
                job["error"] = {"code": exc.code, "message": exc.message}
                self._finish(job, "failed")
        except Exception as exc:  # a job must end in a state the caller can read
            with self._lock:
                job["error"] = {"code": f"{kind.name}_failed", "message": f"{type(exc).__name__}: {exc}"}
                self._finish(job, "failed")

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
        return bool(self._closed_lanes)

    def close(self, wait: bool = True, lanes: tuple[str, ...] | None = None) -> None:
        """Stop (every lane, or ``lanes``): a running job ends at its next check as ``interrupted``."""
        with self._lock:
            closing = set(self._pools) if lanes is None else set(lanes) & set(self._pools)
            self._closed_lanes |= closing
            for job_id, job in self._jobs.items():
                kind = self._kinds.get(job["kind"])
                if job["state"] in ACTIVE and kind is not None and kind.lane in closing:
                    self._stops.setdefault(job_id, threading.Event()).set()
            pools = [self._pools.pop(lane) for lane in closing]
        for pool in pools:
            pool.shutdown(wait=wait, cancel_futures=True)
        with self._lock:
            for job in self._jobs.values():
                kind = self._kinds.get(job["kind"])
                if job["state"] == "queued" and kind is not None and kind.lane in closing:
                    self._finish(job, "interrupted")  # its future was cancelled: it never ran
