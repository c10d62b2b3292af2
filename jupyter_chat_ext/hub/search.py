"""Search the Hub for models by role, and list a repo's loadable files with a fits verdict.

``search_models`` asks ``HfApi.list_models`` twice per pipeline (GGUF repos, then any) so GGUF
repos, which the llama.cpp backend runs quantized, come first whatever their download counts.
``repo_files`` reads ``model_info(files_metadata=True)`` (sizes, LFS hashes) and returns one entry
per GGUF (split parts grouped, quantization parsed from the name) plus the transformers folder as
one entry. Both are blocking: doors call them off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import InvalidInput
from .fits import fits
from .hub_errors import hf_api, hub_call, hub_endpoint, hub_token
from .quant import gguf_entries, safetensors_entry

KINDS = ("chat", "code", "embedding", "rerank")
#: Hub pipeline tags of each role (the Hub's own task names)
PIPELINES: dict[str, tuple[str | None, ...]] = {
    "chat": ("text-generation",),
    "code": ("text-generation",),
    "embedding": ("sentence-similarity", "feature-extraction"),
    "rerank": ("text-ranking", None),
}
#: words a repo of the role has in its name or tags, when the pipeline tag alone does not say it
ROLE_WORDS: dict[str, tuple[str, ...]] = {"code": ("coder", "code"), "rerank": ("rerank",)}
MAX_LIMIT = 100


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    iso = getattr(value, "isoformat", None)
    return iso() if iso is not None else str(value)


def _row(info: Any) -> dict[str, Any]:
    tags = [str(t) for t in (getattr(info, "tags", None) or [])]
    gguf = (
        "gguf" in tags
        or getattr(info, "gguf", None) is not None
        or getattr(info, "library_name", None) == "gguf"
    )
    return {
        "repo": info.id,
        "gguf": bool(gguf),
        "downloads": getattr(info, "downloads", None),
        "likes": getattr(info, "likes", None),
        "updated": _iso(getattr(info, "last_modified", None)),
        "pipeline_tag": getattr(info, "pipeline_tag", None),
        "tags": tags,
    }


def _has_role_words(row: dict[str, Any], words: Iterable[str]) -> bool:
    text = " ".join([row["repo"], *row["tags"]]).lower()
    return any(w in text for w in words)


def search_models(q: str | None = None, kind: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Hub repos matching ``q`` for a role: GGUF repos first, each group by downloads."""
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, not {kind!r}", code="invalid_value")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", code="invalid_value")
    q = (q or "").strip() or None
    api = hf_api()
    pipelines = PIPELINES.get(kind or "", (None,))
    words = ROLE_WORDS.get(kind or "")
    search = q
    if kind == "rerank" and not q:
        search = "reranker"
    elif kind == "code" and not q:
        search = "coder"
    ask = max(limit * 2, 20) if words else limit
    gguf_rows: dict[str, dict[str, Any]] = {}
    other_rows: dict[str, dict[str, Any]] = {}
    for pipeline in pipelines:
        for only_gguf in (True, False):
            kwargs: dict[str, Any] = {"search": search, "sort": "downloads", "limit": ask}
            if pipeline is not None:
                kwargs["pipeline_tag"] = pipeline
            if only_gguf:
                kwargs["filter"] = "gguf"
            found = hub_call(lambda kw=kwargs: list(api.list_models(**kw)))
            # the words are needed where the pipeline does not say the role ("text-ranking" does)
            need_words = bool(words) and not (kind == "rerank" and pipeline == "text-ranking")
            for info in found:
                row = _row(info)
                if need_words and not _has_role_words(row, words):
                    continue
                target = gguf_rows if row["gguf"] else other_rows
                target.setdefault(row["repo"], row)

    def by_downloads(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows.values(), key=lambda r: -(r["downloads"] or 0))

    other = [r for r in by_downloads(other_rows) if r["repo"] not in gguf_rows]
    return (by_downloads(gguf_rows) + other)[:limit]


def repo_files(
    repo: str,
    revision: str | None,
    hardware: dict[str, Any],
    *,
    installed: Callable[[str, str | None], bool] | None = None,
) -> dict[str, Any]:
    """``{"repo", "revision" (sha), "gated", "files": [...]}``: every loadable entry of the repo.

    ``installed(repo, file)`` says whether a pulled model is that file (None: nothing is).
    """
    if not isinstance(repo, str) or repo.count("/") != 1 or not all(repo.split("/")):
        raise InvalidInput("repo must be 'owner/name'", code="invalid_value")
    api = hf_api()
    info = hub_call(api.model_info, repo, revision=revision, files_metadata=True, timeout=30, repo=repo)
    siblings = [
        {"rfilename": s.rfilename, "size": s.size if s.size is not None else getattr(s.lfs, "size", 0)}
        for s in (info.siblings or [])
    ]
    parameters = _parameters(info)
    entries: list[dict[str, Any]] = []
    for e in gguf_entries(siblings):
        entries.append({**e, "format": "gguf"})
    folder = safetensors_entry(siblings)
    if folder is not None:
        entries.append({**folder, "format": "safetensors"})
    files = []
    for e in entries:
        verdict = fits(e["size_bytes"], hardware, parameters=parameters, fmt=e["format"])
        files.append(
            {
                "file": e["file"],
                "size_bytes": e["size_bytes"],
                "format": e["format"],
                "quant": e["quant"],
                "parts": e["parts"],
                "fits": verdict,
                "installed": bool(installed(repo, e["file"])) if installed else False,
            }
        )
    gated = bool(getattr(info, "gated", False))
    out: dict[str, Any] = {
        "repo": repo,
        "revision": info.sha,
        "gated": gated,
        "parameters": parameters,
        "endpoint": hub_endpoint(),
        "files": files,
    }
    if gated and not hub_token():
        out["note"] = "gated repo: accept its licence on the Hub and set HF_TOKEN before pulling"
    return out


def _parameters(info: Any) -> int | None:
    """The parameter count the Hub knows (GGUF header summary or safetensors index)."""
    gguf = getattr(info, "gguf", None)
    if isinstance(gguf, dict) and isinstance(gguf.get("total"), int) and gguf.get("architecture"):
        # the Hub's gguf.total is the parameter count of the model (not bytes)
        return int(gguf["total"])
    st = getattr(info, "safetensors", None)
    total = getattr(st, "total", None)
    return int(total) if isinstance(total, int) else None
