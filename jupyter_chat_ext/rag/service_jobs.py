"""The job side of RagService: background ingest and upload jobs, cancel, resume (jobs/runner.py).

A mixin so that service.py keeps collections, ingest and search; it relies on RagService's
``jobs``, ``index``, ``settings``, ``ingest``, ``_check_open`` and ``_check_model``. The runner is
the Core's (shared with model pulls) or, for a RagService built alone, its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ..errors import InvalidInput, NotFound
from ..jobs import JobContext, JobKind, JobRunner
from .clean import printable_path
from .index import validate_name
from .loaders import resolve_input, save_upload
from .loaders.uploads import save_upload_file

if TYPE_CHECKING:
    from .ingest import IngestReport
    from .service import RagService

#: an upload's content: its bytes, or the path of a file holding them (a spooled request body)
Upload = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]"]


#: the job kinds RagService runs; they share one lane (one LanceDB writer at a time)
KINDS = ("ingest", "upload")
LANE = "ingest"
#: what ingest progress may change in the record ("chunks" there counts commits over every attempt)
PROGRESS_KEYS = ("files_total", "files_done", "pending", "embedded", "skipped", "rate")


def ingest_fields(collection: str, params: dict[str, Any]) -> dict[str, Any]:
    """The public fields an ingest or upload job starts with."""
    return {
        "collection": collection,
        "paths": [printable_path(p) for p in params.get("paths", [])],
        "files_total": 0,
        "files_done": 0,
        "chunks": 0,
        #: chunks gathered for the next commit (lost if the process dies now)
        "pending": 0,
        "embedded": 0,
        "batches": 0,
        "skipped": [],
        "done_files": {},
    }


class JobsMixin:
    def _register_jobs(self: RagService, runner: JobRunner, auto_resume: bool) -> None:
        for kind in KINDS:
            runner.register(JobKind(kind, self._run_job, lane=LANE, auto_resume=auto_resume))

    def start_ingest(
        self: RagService,
        name: str,
        paths: Sequence[str | os.PathLike[str]],
        *,
        root: str | os.PathLike[str] | None = None,
        exclude: Sequence[str] = (),
        include_outputs: bool = False,
    ) -> dict[str, Any]:
        """Validate now (bad name, unknown collection, paths outside root fail at once), run later
        as a persisted job (``get_job``, ``cancel_job``, ``resume_job``)."""
        self._check_open()
        validate_name(name)
        if not self.index.exists(name):
            raise NotFound(f"no collection named {name!r}")
        self._check_model(name)
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if not isinstance(paths, (list, tuple)) or not paths:
            raise InvalidInput("paths must be a non-empty list of files or folders")
        if exclude and (isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude)):
            raise InvalidInput("exclude must be a list of gitignore-style patterns")
        for p in paths:
            resolve_input(p, root, allow_hidden=getattr(self.settings, "allow_hidden", False))
        params = {
            "paths": [str(p) for p in paths],
            "root": str(root) if root is not None else None,
            "exclude": list(exclude),
            "include_outputs": bool(include_outputs),
        }
        return self.jobs.submit("ingest", params, ingest_fields(name, params))

    def _run_job(self: RagService, record: dict[str, Any], ctx: JobContext) -> IngestReport:
        """The body of every ingest job, first run and resumes alike (the job runner's thread)."""
        self._check_open()
        params = record["params"]

        def on_commit(report: Any, files: dict[str, int]) -> None:
            def commit(job: dict[str, Any]) -> None:
                job.setdefault("done_files", {}).update(files)
                job["chunks"] = sum(job["done_files"].values())  # committed, over every attempt
                job["batches"] = int(job.get("batches") or 0) + 1
                job["files_done"] = max(int(job.get("files_done") or 0), getattr(report, "files_done", 0))

            ctx.update(commit)

        return self.ingest(
            record["collection"],
            params["paths"],
            root=params.get("root"),
            progress=lambda values: ctx.progress({k: v for k, v in values.items() if k in PROGRESS_KEYS}),
            exclude=params.get("exclude") or (),
            include_outputs=bool(params.get("include_outputs")),
            should_stop=ctx.should_stop,
            on_commit=on_commit,
            resumed=ctx.resumed,
        )

    def get_job(self: RagService, job_id: str) -> dict[str, Any]:
        return self.jobs.get(job_id)

    def list_jobs(self: RagService) -> list[dict[str, Any]]:
        return self.jobs.list(KINDS)

    def cancel_job(self: RagService, job_id: str) -> dict[str, Any]:
        """Stop a queued or running job between batches (Conflict once it has ended)."""
        return self.jobs.cancel(job_id)

    def resume_job(self: RagService, job_id: str) -> dict[str, Any]:
        """Run an interrupted, cancelled or failed job again; committed files are not redone."""
        self._check_open()
        return self.jobs.resume(job_id)

    def _save_upload(self: RagService, name: str, filename: str, data: Upload, max_bytes: int) -> Path:
        self._check_open()
        validate_name(name)
        if not self.index.exists(name):
            raise NotFound(f"no collection named {name!r}")
        self._check_model(name)
        dest = Path(self.settings.data_dir) / "uploads" / name
        if isinstance(data, (str, os.PathLike)):  # a spooled request body: copied, never read whole
            return save_upload_file(filename, Path(data), dest, max_bytes=max_bytes)
        return save_upload(filename, data, dest, max_bytes=max_bytes)

    def start_upload(
        self: RagService, name: str, filename: str, data: Upload, *, max_bytes: int = 25 * 1024 * 1024
    ) -> dict[str, Any]:
        """Store an uploaded file (bytes, or the path of a spooled body) under the data dir,
        size-limited, and ingest it as a job."""
        path = self._save_upload(name, filename, data, max_bytes)
        params = {"paths": [str(path)], "root": None, "exclude": [], "include_outputs": False}
        return self.jobs.submit("upload", params, ingest_fields(name, params))

    def add_upload(
        self: RagService, name: str, filename: str, data: Upload, *, max_bytes: int = 25 * 1024 * 1024
    ) -> IngestReport:
        """Store an uploaded file under the data dir (size-limited) and ingest it now (blocking)."""
        path = self._save_upload(name, filename, data, max_bytes)
        return self.ingest(name, [path])
