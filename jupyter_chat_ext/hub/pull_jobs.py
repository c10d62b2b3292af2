"""Model pulls as jobs of the Core's runner, and deleting a pulled model (what the doors call).

``start_pull`` plans (refusing up front, see pull.py), then either joins the pull of the same file
that is already queued or running, or submits a new ``pull`` job. Pulls run in their own lane
(two at a time), so they never wait behind an ingest. After a crash a pull is ``interrupted`` with
a ``resume`` action (no auto-resume: the user may no longer want those gigabytes); resuming goes
on from the bytes on disk.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..errors import Conflict, Forbidden, NotFound
from ..jobs import ACTIVE, JobKind, JobRunner
from . import pull_store
from .pull import plan_pull, run_pull

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..settings import Settings

KIND = "pull"
LANE = "pull"
WORKERS = 2
_submit_lock = threading.Lock()


def register_pulls(settings: Settings, engine: Engine, jobs: JobRunner) -> None:
    def run(record: dict[str, Any], ctx: Any) -> dict[str, Any]:
        return run_pull(settings, engine, record, ctx)

    jobs.register(JobKind(KIND, run, lane=LANE, workers=WORKERS, auto_resume=False))


def _same_pull(repo: str, file: str | None) -> Any:
    def match(job: dict[str, Any]) -> bool:
        params = job.get("params") or {}
        return job["state"] in ACTIVE and params.get("repo") == repo and params.get("file") == file

    return match


def start_pull(
    settings: Any, jobs: JobRunner, repo: Any, file: Any = None, revision: Any = None
) -> tuple[dict[str, Any], bool]:
    """(job, joined): a new pull job, or the running pull of the same repo file (blocking)."""
    if isinstance(repo, str) and (running := jobs.find(KIND, _same_pull(repo, file))) is not None:
        return running, True
    plan = plan_pull(settings, repo, file, revision)
    fields = {
        "repo": plan.repo,
        "file": plan.file,
        "revision": plan.revision,
        "format": plan.format,
        "bytes_done": 0,
        "bytes_total": plan.bytes_total,
        "rate": 0.0,
        "eta_s": None,
        "model_id": None,
        "target_model_id": plan.model_id,
    }
    with _submit_lock:  # two requests for one file: the second joins the first
        running = jobs.find(KIND, _same_pull(plan.repo, plan.file))
        if running is not None:
            return running, True
        return jobs.submit(KIND, plan.to_params(), fields), False


def delete_pulled(
    settings: Settings, engine: Engine, jobs: JobRunner | None, model_id: str
) -> dict[str, Any]:
    """Remove a pulled model's files (unloading it first); packaged and user-folder models are refused."""
    info = engine.registry.get(model_id)  # NotFound for an unknown id
    if info.source != "hub":
        raise Forbidden(
            f"{model_id} is a {info.source} model: only models pulled from the Hub are deleted here",
            code="model_not_deletable",
        )
    in_use = [
        role
        for role, value in (
            ("default_model", settings.default_model),
            ("embedding_model", settings.embedding_model),
            ("inline_model", getattr(settings, "inline_model", None)),
        )
        if value == model_id
    ]
    if in_use:
        raise Conflict(
            f"{model_id} is the {' and '.join(in_use)}; choose another model for that role first",
            code="model_in_use",
        )
    if jobs is not None and jobs.find(
        KIND, lambda j: j["state"] in ACTIVE and (j.get("params") or {}).get("model_id") == model_id
    ):
        raise Conflict(f"{model_id} is being pulled; cancel that job first", code="model_in_use")
    engine.unload(model_id)
    if not pull_store.remove(settings.hub_dir, model_id):
        raise NotFound(f"no pulled model {model_id!r}", code="model_not_found")
    engine.registry.refresh_hub()
    return {"deleted": model_id}
