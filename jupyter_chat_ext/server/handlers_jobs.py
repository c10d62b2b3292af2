"""Background jobs of every kind (ingest, upload, pull): list, get, cancel, resume.

They read the Core's one job runner (jupyter_chat_ext/jobs/), so they answer even while RAG is
unavailable: a model pull is a job too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jupyter_chat_ext.wire.jobs import Job, JobList, JobQuery
from jupyter_chat_ext.wire.ops import op

from .base import READ, WRITE, ChatExtHandler, requires

if TYPE_CHECKING:
    from jupyter_chat_ext.jobs import JobRunner


class JobsBase(ChatExtHandler):
    async def runner(self) -> JobRunner:
        return (await self.core()).job_runner()


class JobsHandler(JobsBase):
    """``GET jobs?kind=pull|ingest|upload``: every job this server knows, those from before a restart too."""

    @requires(READ)
    @op(
        "Jobs of every kind (ingest, upload, pull), oldest first, kept across restarts; answers without RAG",
        query=JobQuery,
        answer=JobList,
        tag="jobs",
        errors=(503,),
        operation_id="listJobs",
    )
    async def get(self, query: JobQuery) -> None:
        runner = await self.runner()
        self.send_json({"jobs": await self.blocking(lambda: runner.list(query.kind))})


class JobHandler(JobsBase):
    @requires(READ)
    @op("A job", answer=Job, tag="jobs", errors=(503,), operation_id="getJob")
    async def get(self, job_id: str) -> None:
        runner = await self.runner()
        self.send_json(await self.blocking(runner.get, job_id))


class JobCancelHandler(JobsBase):
    """Stop a queued or running job at its next check (ingest: a file, pull: a chunk); 409 once over."""

    @requires(WRITE)
    @op(
        "Stop a queued or running job at its next check (409 once it is over)",
        answer=Job,
        tag="jobs",
        errors=(409, 503),
        operation_id="cancelJob",
    )
    async def post(self, job_id: str) -> None:
        runner = await self.runner()
        self.send_json(await self.blocking(runner.cancel, job_id))


class JobResumeHandler(JobsBase):
    """Run an interrupted, cancelled or failed job again: 202 + the job (work already done is kept)."""

    @requires(WRITE)
    @op(
        "Run an interrupted, cancelled or failed job again (work already done is kept)",
        answer=Job,
        status=202,
        tag="jobs",
        errors=(409, 503, 507),
        operation_id="resumeJob",
    )
    async def post(self, job_id: str) -> None:
        runner = await self.runner()
        self.send_json(await self.blocking(runner.resume, job_id), status=202)
