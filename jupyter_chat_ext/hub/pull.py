"""Pull a model from the Hugging Face Hub: plan and refuse up front, then download, verify, install.

``plan_pull`` runs in the request (blocking, off the event loop): it asks the Hub for the repo's files
(``model_info(files_metadata=True)``: sizes, LFS sha256), checks access with a HEAD of the first file,
and refuses with nothing written: 400 bad repo/file, 404 unknown repo/revision/file, 403 gated or
private without ``HF_TOKEN``, 503 offline or unreachable, 415 neither GGUF nor safetensors, 409 already
pulled at that revision, 507 not enough free disk (checked before any byte). ``run_pull`` is the job's
body (jobs/runner.py, lane ``pull``); the transfer itself is pull_transfer.py.

The bytes go through ``huggingface_hub.file_download.http_get`` (its headers, retries, Range
resume), into ``partial/.../<file>.incomplete`` files that we own. ``hf_hub_download`` itself cannot
resume after a kill -9 in huggingface_hub 2.4: it writes to a uuid-named temporary file and deletes
it when the download fails (its PR 4228), and a killed process leaves an orphan that the next call
never reads. A transformers folder is pulled the same way, file by file (the files an
``allow_patterns`` snapshot would take: config, tokenizer, ``*.safetensors``, chat template), so
one progress figure and one resume cover it. Every file is checked against the Hub's sha256 (LFS) or
git blob id before the model is listed; a mismatch deletes it and fails the job ``checksum_mismatch``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import Conflict, InvalidInput, ModelError, NotFound, StorageFull, UnsupportedMedia
from . import pull_store
from .hub_errors import hf_api, hub_call, hub_endpoint, hub_token
from .pull_transfer import PullStopped, fetch_all, on_own_thread
from .quant import split_part

REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REVISION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
#: a transformers folder: the files an allow_patterns snapshot takes (top level, plus the
#: sentence-transformers module folders); weights only as safetensors (never pickles)
FOLDER_PATTERNS = (
    "*.json",
    "*.safetensors",
    "tokenizer.model",
    "*.tiktoken",
    "vocab.txt",
    "merges.txt",
    "*.jinja",
)
FOLDER_SUBDIRS = ("1_Pooling/", "2_Normalize/")


@dataclass
class PullPlan:
    repo: str
    revision: str
    file: str | None
    model_id: str
    files: list[dict[str, Any]] = field(default_factory=list)
    bytes_total: int = 0
    format: str = "gguf"

    def to_params(self) -> dict[str, Any]:
        return asdict(self)


def _folder_file(name: str) -> bool:
    if "/" in name:
        return name.startswith(FOLDER_SUBDIRS)
    return any(fnmatch(name, pattern) for pattern in FOLDER_PATTERNS)


def _check_names(repo: Any, file: Any, revision: Any) -> None:
    if not isinstance(repo, str) or not REPO_RE.match(repo):
        raise InvalidInput("repo must be 'owner/name' as on the Hugging Face Hub", code="invalid_value")
    if file is not None:
        parts = PurePosixPath(file).parts if isinstance(file, str) else ()
        if not isinstance(file, str) or not file or len(file) > 500 or ".." in parts or file.startswith("/"):
            raise InvalidInput("file must be a file name of the repo", code="invalid_value")
    if revision is not None and (not isinstance(revision, str) or not REVISION_RE.match(revision)):
        raise InvalidInput("revision must be a branch, tag or commit sha", code="invalid_value")


def _sibling(s: Any) -> dict[str, Any]:
    lfs = getattr(s, "lfs", None)
    return {
        "name": s.rfilename,
        "size": int(getattr(s, "size", None) or (lfs.size if lfs else 0) or 0),
        "sha256": lfs.sha256 if lfs else None,
        "blob_id": getattr(s, "blob_id", None),
    }


def _gguf_parts(siblings: list[dict[str, Any]], file: str) -> list[dict[str, Any]]:
    """The file, or every part of a split GGUF (``x-00001-of-00003.gguf``: llama.cpp loads the
    first part and finds the others beside it)."""
    split = split_part(file)
    if split is None:
        return [s for s in siblings if s["name"] == file]
    stem, _part, total = split
    parts = [
        s for s in siblings if (p := split_part(s["name"])) is not None and p[0] == stem and p[2] == total
    ]
    if len(parts) != total:
        raise NotFound(
            f"{file} is part of {total} files, {len(parts)} of them are in the repo", code="file_not_found"
        )
    return sorted(parts, key=lambda s: s["name"])


def free_bytes(path: Path) -> int:
    """Free disk where ``path`` is (or would be created)."""
    probe = Path(path)
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def partial_bytes(settings: Any, plan: PullPlan) -> int:
    """Bytes of this plan already on disk from an earlier, interrupted attempt."""
    folder = pull_store.partial_dir(settings.hub_dir, plan.model_id, plan.revision)
    done = 0
    for f in plan.files:
        for candidate in (folder / f["name"], folder / (f["name"] + ".incomplete")):
            if candidate.is_file():
                done += min(candidate.stat().st_size, f["size"])
    return done


def plan_pull(settings: Any, repo: Any, file: Any = None, revision: Any = None) -> PullPlan:
    """What a pull would download, or the refusal (blocking: a few Hub requests)."""
    _check_names(repo, file, revision)
    api = hf_api()  # Unavailable hub_unreachable when HF_HUB_OFFLINE is set
    info = hub_call(api.model_info, repo, revision=revision, files_metadata=True, repo=repo, file=file)
    siblings = [_sibling(s) for s in info.siblings or []]
    names = {s["name"] for s in siblings}
    if file is not None:
        if file not in names:
            raise NotFound(f"{repo} has no file {file!r} at that revision", code="file_not_found")
        if not file.lower().endswith(".gguf"):
            raise UnsupportedMedia(
                f"{file} is not a GGUF file: pull one .gguf file, or the whole repo (no file) for a "
                "transformers folder of safetensors weights",
                code="unsupported_model_format",
            )
        chosen = _gguf_parts(siblings, file)
        fmt = "gguf"
    else:
        chosen = [s for s in siblings if _folder_file(s["name"])]
        if not any(s["name"].endswith(".safetensors") for s in chosen):
            ggufs = sorted(n for n in names if n.lower().endswith(".gguf"))
            hint = f": it holds GGUF files, name one as file (e.g. {ggufs[0]})" if ggufs else ""
            raise UnsupportedMedia(
                f"{repo} has no safetensors weights to pull as a folder{hint}"
                + ("" if ggufs else " (only GGUF files and safetensors folders are pulled, never pickles)"),
                code="unsupported_model_format",
            )
        fmt = "hf"
    plan = PullPlan(
        repo=repo,
        revision=str(info.sha or revision or "main"),
        file=file,
        model_id=pull_store.pulled_model_id(repo, file),
        files=chosen,
        bytes_total=sum(s["size"] for s in chosen),
        format=fmt,
    )
    _check_access(plan)
    have = pull_store.find_installed(settings.hub_dir, plan.model_id)
    if have is not None and have.get("revision") == plan.revision:
        raise Conflict(
            f"{plan.model_id} is already pulled at revision {plan.revision[:12]}", code="already_pulled"
        )
    needed = plan.bytes_total - partial_bytes(settings, plan)
    free = free_bytes(settings.hub_dir)
    reserve = int(getattr(settings, "hub_reserve_bytes", 0) or 0)
    if free - needed < reserve:
        raise StorageFull(
            f"pulling {plan.model_id} needs {needed / 1e9:.2f} GB and must leave {reserve / 1e9:.2f} GB "
            f"free on {settings.hub_dir}; {free / 1e9:.2f} GB are free (Settings.hub_dir, hub_reserve_bytes)"
        )
    return plan


def _check_access(plan: PullPlan) -> None:
    """A HEAD of the first file: a gated repo lists its files but refuses their bytes (401/403)."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    if not plan.files:
        return
    endpoint = hub_endpoint()
    url = hf_hub_url(plan.repo, plan.files[0]["name"], revision=plan.revision, endpoint=endpoint)
    hub_call(
        get_hf_file_metadata,
        url,
        token=hub_token() or False,
        endpoint=endpoint,
        repo=plan.repo,
        file=plan.files[0]["name"],
    )


def run_pull(settings: Any, engine: Any, record: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """The body of a pull job, first run and resumes alike (the runner's ``pull`` lane)."""
    plan = record["params"]
    hub_dir = Path(settings.hub_dir)
    part = pull_store.partial_dir(hub_dir, plan["model_id"], plan["revision"])
    try:
        on_own_thread(str(part), lambda: fetch_all(plan, part, ctx), ctx.stop_event)
    except (PullStopped, InterruptedError):
        return {"cancelled": True, "model_id": None}
    model_id = _install(hub_dir, plan, part, record["id"])
    engine.registry.refresh_hub()
    try:
        engine.registry.get(model_id)
    except NotFound:  # verified bytes the registry cannot read (e.g. not a GGUF inside)
        problems = [p["error"] for p in engine.registry.problems if pull_store.slug(model_id) in p["path"]]
        pull_store.remove(hub_dir, model_id)
        engine.registry.refresh_hub()
        raise ModelError(
            f"{model_id} was pulled but cannot be loaded: {'; '.join(problems) or 'not a model'}",
            code="model_missing",
        ) from None
    ctx.update(
        lambda job: job.update(model_id=model_id, bytes_done=plan["bytes_total"], eta_s=0, progress=1.0)
    )
    return {"cancelled": False, "model_id": model_id}


def _install(hub_dir: Path, plan: dict[str, Any], part: Path, job_id: str) -> str:
    staged = pull_store.models_dir(hub_dir) / f".staging-{job_id}"
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for entry in plan["files"]:
        # one GGUF keeps only its file name; a folder keeps the repo's layout
        name = PurePosixPath(entry["name"]).name if plan["format"] == "gguf" else entry["name"]
        dest = staged / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        (part / entry["name"]).replace(dest)
    manifest = {
        "model_id": plan["model_id"],
        "repo": plan["repo"],
        "file": plan["file"],
        "revision": plan["revision"],
        "format": plan["format"],
        "bytes": plan["bytes_total"],
        "files": [{k: e.get(k) for k in ("name", "size", "sha256", "blob_id")} for e in plan["files"]],
        "endpoint": hub_endpoint(),
    }
    pull_store.install(staged, hub_dir, manifest)
    shutil.rmtree(part.parent, ignore_errors=True)
    return plan["model_id"]
