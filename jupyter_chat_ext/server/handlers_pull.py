"""Pull a model from the Hugging Face Hub as a background job (hub/pull_jobs.py).

``POST /chat-ext/models/pull {"repo", "file"?, "revision"?}`` -> 202 ``{"job": job}`` (``"joined":
true`` when the same file was already being pulled). Every refusal comes before the job exists
and writes nothing (400, 403, 404, 409, 415, 503, 507: see hub/pull.py). The job is then read with
``GET /chat-ext/jobs/{id}``; ``DELETE /chat-ext/models/{id}`` (handlers_models.py) removes a
pulled model.
"""

from __future__ import annotations

from jupyter_chat_ext.errors import Unavailable
from jupyter_chat_ext.wire.links import links
from jupyter_chat_ext.wire.models import PullAnswer, PullRequest
from jupyter_chat_ext.wire.ops import op

from .base import EXECUTE, ChatExtHandler, requires

PULL_DESCRIPTION = (
    "Pull a model from the Hugging Face Hub as a background job (HF_ENDPOINT, HF_TOKEN apply). "
    "Every refusal comes before the job exists and writes nothing: 400 bad body, 403 gated or "
    "private without HF_TOKEN, 404 unknown repo/revision/file, 409 already pulled at that "
    "revision, 415 neither GGUF nor safetensors, 503 HF_HUB_OFFLINE or the Hub unreachable, 507 "
    "not enough free disk. A second pull of a file being pulled joins that job."
)


class ModelPullHandler(ChatExtHandler):
    @requires(EXECUTE)
    @op(
        PULL_DESCRIPTION,
        body=PullRequest,
        answer=PullAnswer,
        status=202,
        tag="models",
        errors=(403, 404, 409, 415, 503, 507),
        links=links("job_id", "/job/id", GetJob="getJob"),
        operation_id="pullModel",
    )
    async def post(self, body: PullRequest) -> None:
        core = await self.core()
        jobs = core.job_runner()
        if not jobs.has_kind("pull"):
            raise Unavailable(
                "model pulls are not available here (huggingface_hub is missing)", code="job_kind_unavailable"
            )
        from jupyter_chat_ext.hub.pull_jobs import start_pull

        args = (core.settings, jobs, body.repo, body.file, body.revision)
        # a few Hub requests (metadata, a HEAD): the pool kept for calls that may take seconds
        job, joined = await self.long_call(start_pull, *args)
        self.send_json({"job": job, "joined": joined}, status=202)
