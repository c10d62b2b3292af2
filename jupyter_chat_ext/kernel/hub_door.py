"""The model hub from a kernel: hardware, catalog, roles and pull, over HTTP or in-process.

A kernel that found the Jupyter server asks its routes (``GET hardware``, ``GET catalog``,
``GET|PUT roles``, ``POST models/pull`` + ``GET jobs/{id}``); the in-process ``LocalService``
(no server: papermill, plain python) computes the same answers from its own core, and pulls with
the core's own job runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import ChatExtError, InvalidInput, Unavailable
from .http_client import HttpClient

#: seconds between two looks at a pull job (the bar moves smoothly; the server answers in ~1 ms)
POLL_S = 0.5
ACTIVE = ("queued", "running")


def _local_core(client: Any) -> Any:
    core = getattr(client, "core", None)
    if core is None:
        raise Unavailable(f"{type(client).__name__} cannot reach the model hub")
    return core


def hardware(client: Any) -> dict[str, Any]:
    if isinstance(client, HttpClient):
        return client._json("GET", "hardware")
    from ..hub.hardware import hardware_profile
    from ..hub.installed import pulled_dir

    return hardware_profile(pulled_dir(_local_core(client).settings))


def catalog(client: Any) -> dict[str, Any]:
    if isinstance(client, HttpClient):
        return client._json("GET", "catalog")
    from ..hub.catalog import catalog_view

    return catalog_view(hardware(client), _local_core(client).installed())


def roles(client: Any, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    if isinstance(client, HttpClient):
        if changes:
            return client._json("PUT", "roles", json=changes)
        return client._json("GET", "roles")
    core = _local_core(client)
    return core.set_roles(changes) if changes else core.roles_view()


def parse_target(text: str, entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``owner/name``, ``owner/name:file.gguf`` or a catalog id -> the pull request body."""
    text = text.strip()
    if "/" not in text:
        for entry in entries or []:
            if entry.get("id") == text:
                body = {"repo": entry["repo"]}
                if entry.get("file"):
                    body["file"] = entry["file"]
                return body
        raise InvalidInput(
            f"{text!r} is neither owner/name[:file] nor a catalog id (see %chat catalog)",
            code="invalid_value",
        )
    repo, _, file = text.partition(":")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise InvalidInput(f"{repo!r} is not a Hub repo id (owner/name)", code="invalid_value")
    return {"repo": repo, **({"file": file} if file else {})}


def pull(
    client: Any,
    body: dict[str, Any],
    progress: Callable[[dict[str, Any]], None] | None = None,
    *,
    poll_s: float = POLL_S,
) -> dict[str, Any]:
    """Start a pull and wait for its job; an interrupt (Ctrl-C) cancels it (resume picks it up).

    Over HTTP the server's job runner does the work; in-process the core's own runner does (its
    job records live in the data dir, so an interrupted pull resumes in either mode).
    """
    if isinstance(client, HttpClient):
        answer = client._json("POST", "models/pull", json=body)
        job = answer.get("job") if isinstance(answer, dict) else None

        def look(job_id: str) -> dict[str, Any]:
            return client._json("GET", f"jobs/{job_id}")

        def cancel(job_id: str) -> Any:
            return client._json("POST", f"jobs/{job_id}/cancel")
    else:
        core = _local_core(client)
        if getattr(core, "jobs", None) is None:
            raise Unavailable("this in-process service has no job runner: pull from the Jupyter server")
        from ..hub.pull_jobs import start_pull

        jobs = core.job_runner()
        job, _joined = start_pull(
            core.settings, jobs, body.get("repo"), body.get("file"), body.get("revision")
        )
        look, cancel = jobs.get, jobs.cancel
    if not isinstance(job, dict) or "id" not in job:
        raise ChatExtError(f"the pull was answered without a job: {job!r}"[:300])
    try:
        while True:
            if progress is not None:
                progress(job)
            if job.get("state") not in ACTIVE:
                return job
            time.sleep(poll_s)
            job = look(job["id"])
    except KeyboardInterrupt:
        try:
            cancel(job["id"])
        except ChatExtError:
            pass
        raise
