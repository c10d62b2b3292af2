"""Pull a model from the Hugging Face Hub as a background job (hub/pull_jobs.py).

``POST /chat-ext/models/pull {"repo", "file"?, "revision"?}`` -> 202 ``{"job": job}`` (``"joined":
true`` when the same file was already being pulled). Every refusal comes before the job exists
and writes nothing (400, 403, 404, 409, 415, 503, 507: see hub/pull.py). The job is then read with
``GET /chat-ext/jobs/{id}``; ``DELETE /chat-ext/models/{id}`` (handlers_models.py) removes a
pulled model.
"""

from __future__ import annotations

from jupyter_chat_ext.errors import Unavailable

from .base import EXECUTE, ChatExtHandler, requires
from .validation import MISSING, opt_str, req_str


class ModelPullHandler(ChatExtHandler):
    @requires(EXECUTE)
    async def post(self) -> None:
        data = self.json_body()
        repo = req_str(data, "repo", max_len=200)
        file = opt_str(data, "file", max_len=500)
        revision = opt_str(data, "revision", max_len=200)
        core = await self.core()
        if core.jobs is None or not core.jobs.has_kind("pull"):
            raise Unavailable(
                "model pulls are not available here (huggingface_hub is missing)", code="job_kind_unavailable"
            )
        from jupyter_chat_ext.hub.pull_jobs import start_pull

        args = (
            core.settings,
            core.jobs,
            repo,
            None if file is MISSING else file,
            None if revision is MISSING else revision,
        )
        # a few Hub requests (metadata, a HEAD): the pool kept for calls that may take seconds
        job, joined = await self.long_call(start_pull, *args)
        self.send_json({"job": job, "joined": joined}, status=202)
