"""Job records on disk: ``<data_dir>/jobs/<id>.json``, written atomically, plus a liveness lock.

A record is written when a job is queued, starts, commits a batch, changes state or ends (progress in
between at most every ``PERSIST_EVERY_S``), always to a temporary file then ``os.replace``d, so a
reader (or a crash) sees the old record or the new one, never half of one.

Whether a ``queued``/``running`` record still has a live owner is decided by an exclusive ``flock`` on
``<id>.lock`` that the owning runner holds from submit to the end: the kernel drops it when the
process dies, even under kill -9, so the next start reads such a record as ``interrupted``. A pid
check would not do: a restarted container often gets the same pid again. Without ``fcntl``
(Windows) the pid check is the fallback.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobFiles:
    """The folder of job records of one data dir."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _path(self, job_id: str, suffix: str) -> Path:
        if not JOB_ID_RE.match(job_id):  # ids are ours, but never let one name another file
            raise ValueError(f"bad job id {job_id!r}")
        return self.folder / f"{job_id}{suffix}"

    def save(self, record: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(record["id"], ".json")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # ensure_ascii keeps the file plain ASCII whatever a path holds; clean.py keeps it surrogate-free
        tmp.write_text(json.dumps(record, sort_keys=True))
        os.replace(tmp, path)

    def load_all(self) -> list[dict[str, Any]]:
        """Every readable record, oldest first; an unreadable one is left on disk and ignored."""
        records = []
        if not self.folder.is_dir():
            return records
        for path in self.folder.glob("*.json"):
            if not JOB_ID_RE.match(path.stem):
                continue
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("id") == path.stem:
                records.append(record)
        records.sort(key=lambda r: (float(r.get("created_at") or 0), r["id"]))
        return records

    def delete(self, job_id: str) -> None:
        for suffix in (".json", ".lock"):
            self._path(job_id, suffix).unlink(missing_ok=True)

    # -- liveness ------------------------------------------------------------------------------
    def hold(self, job_id: str) -> IO[bytes] | None:
        """Take the job's lock for this process; keep the returned handle open while it lives."""
        if fcntl is None:
            return None
        try:  # a read-only or full data dir: the job still runs, it just cannot be recovered
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self._path(job_id, ".lock"), "ab")  # noqa: SIM115 - held until release()
        except OSError:
            return None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None
        return handle

    @staticmethod
    def release(handle: IO[bytes] | None) -> None:
        if handle is not None:
            handle.close()  # closing the descriptor drops the flock

    def owner_alive(self, record: dict[str, Any]) -> bool:
        """True while some process (this one included) holds the job's lock."""
        if fcntl is None:
            return _pid_alive(record.get("pid"))
        path = self._path(record["id"], ".lock")
        if not path.exists():
            return False
        try:
            with open(path, "ab") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    return True
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
                return False
        except OSError:
            return False
