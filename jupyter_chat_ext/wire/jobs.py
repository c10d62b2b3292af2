"""Background jobs of every kind (ingest, upload, pull): ONE record shape (``jobs/runner.py``).

Every kind shares the common fields; a kind adds its own (ingest and upload: files and chunks,
pull: bytes and the repo), all optional here, so one declaration describes every job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .base import Answer, ErrorBody, Query
from .fields import EMPTY_IS_ABSENT

__all__ = ["Job", "JobKind", "JobList", "JobQuery", "JobState"]

JobKind = Literal["ingest", "upload", "pull"]
JobState = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]


class Job(Answer):
    """One job: ``actions`` says what a client may do next (``cancel``, ``resume``)."""

    id: str
    kind: JobKind
    state: JobState = Field(
        description="queued -> running -> done | failed | cancelled; interrupted after a crash"
    )
    progress: float | None = Field(None, ge=0, le=1)
    actions: list[Literal["cancel", "resume"]] = Field(
        description="cancel while queued or running; resume once interrupted, cancelled or failed"
    )
    error: ErrorBody | str | None = Field(None, description="why it failed ({code, message})")
    created_at: float | None = Field(None, description="seconds since the epoch")
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int | None = None
    rate: float | None = Field(None, description="ingest: chunks/s; pull: bytes/s")
    # pull
    repo: str | None = Field(None, description="pull: the Hub repo")
    file: str | None = Field(None, description="pull: the GGUF file (null for a transformers folder)")
    revision: str | None = Field(None, description="pull: the commit sha")
    bytes_done: int | None = None
    bytes_total: int | None = None
    eta_s: float | None = None
    model_id: str | None = Field(None, description="pull: the model id once done")
    # ingest, upload
    collection: str | None = None
    files_total: int | None = None
    files_done: int | None = None
    chunks: int | None = None
    embedded: int | None = None
    skipped: list[dict[str, Any]] | None = Field(None, description="files left out, each {path, reason}")


class JobList(Answer):
    jobs: list[Job] = Field(description="every known job, oldest first (kept across restarts)")


class JobQuery(Query):
    kind: Annotated[JobKind | None, EMPTY_IS_ABSENT] = Field(None, description="only jobs of this kind")
