"""Background jobs of every kind (ingest, upload, pull): list, get, cancel, resume.

They read the Core's one job runner (jupyter_chat_ext/jobs/), so they answer even while RAG is
unavailable: a model pull is a job too.
"""

from __future__ import annotations

from typing import Any

from jupyter_chat_ext.errors import InvalidInput, Unavailable

from .base import READ, WRITE, ChatExtHandler, requires

KINDS = ("ingest", "upload", "pull")


class JobsBase(ChatExtHandler):
    async def runner(self) -> Any:
        core = await self.core()
        if core.jobs is None:
            raise Unavailable("the job runner is not available")
        return core.jobs


class JobsHandler(JobsBase):
    """``GET jobs?kind=pull|ingest|upload``: every job this server knows, those from before a restart too."""

    @requires(READ)
    async def get(self) -> None:
        kind = self.query_str("kind", max_len=20)
        if kind and kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}")
        runner = await self.runner()
        self.send_json({"jobs": await self.blocking(lambda: runner.list(kind or None))})


class JobHandler(JobsBase):
    @requires(READ)
    async def get(self, job_id: str) -> None:
        runner = await self.runner()
        self.send_json(await self.blocking(runner.get, job_id))


class JobCancelHandler(JobsBase):
    """Stop a queued or running job at its next check (ingest: a file, pull: a chunk); 409 once over."""

    @requires(WRITE)
    async def post(self, job_id: str) -> None:
        runner = await self.runner()
        self.send_json(await self.blocking(runner.cancel, job_id))


class JobResumeHandler(JobsBase):
    """Run an interrupted, cancelled or failed job again: 202 + the job (work already done is kept)."""

    @requires(WRITE)
    async def post(self, job_id: str) -> None:
        runner = await self.runner()
        self.send_json(await self.blocking(runner.resume, job_id), status=202)
