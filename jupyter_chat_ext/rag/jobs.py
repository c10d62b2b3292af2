"""Background ingest jobs: one worker thread runs them in order; jobs are polled by id."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import ChatExtError, NotFound

MAX_KEPT_JOBS = 200


class JobRunner:
    def __init__(self) -> None:
        self._jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-ingest")

    def submit(
        self, collection: str, work: Callable[[Callable[[dict[str, Any]], None]], Any]
    ) -> dict[str, Any]:
        """Queue ``work(progress)``; ``progress(dict)`` updates the job's counters while it runs."""
        job_id = uuid.uuid4().hex
        job: dict[str, Any] = {
            "id": job_id,
            "collection": collection,
            "state": "queued",
            "files_total": 0,
            "files_done": 0,
            "chunks": 0,
            "embedded": 0,
            "skipped": [],
            "rate": 0.0,
            "error": None,
            "created_at": time.time(),
            "started_at": None,
            "finished_at": None,
            "report": None,
        }
        with self._lock:
            self._jobs[job_id] = job
            self._trim()

        def update(values: dict[str, Any]) -> None:
            with self._lock:
                job.update({k: v for k, v in values.items() if k in job and k not in ("id", "state")})

        def run() -> None:
            with self._lock:
                job["state"] = "running"
                job["started_at"] = time.time()
            try:
                report = work(update)
                with self._lock:
                    job["report"] = report.to_dict() if hasattr(report, "to_dict") else report
                    job["state"] = "done"
            except ChatExtError as exc:
                with self._lock:
                    job["state"], job["error"] = "error", {"code": exc.code, "message": exc.message}
            except Exception as exc:  # a job must end in a state the caller can read
                with self._lock:
                    job["state"], job["error"] = "error", {"code": "ingest_failed", "message": str(exc)}
            finally:
                with self._lock:
                    job["finished_at"] = time.time()

        self._pool.submit(run)
        return self.get(job_id)

    def get(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            job = self._jobs.get(job_id) if isinstance(job_id, str) else None
            if job is None:
                raise NotFound(f"no ingest job {job_id!r}")
            return {**job, "skipped": list(job["skipped"])}

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**j, "skipped": list(j["skipped"])} for j in self._jobs.values()]

    def _trim(self) -> None:
        finished = [j for j in self._jobs.values() if j["state"] in ("done", "error")]
        for job in finished[: max(0, len(self._jobs) - MAX_KEPT_JOBS)]:
            self._jobs.pop(job["id"], None)

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)
