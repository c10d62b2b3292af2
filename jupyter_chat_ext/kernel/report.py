"""Reproducible question answering for papermill reports (``notebooks/report.ipynb``).

Each question is answered in a fresh session (no history), greedily and seeded, with retrieved
passages (when a collection is named) placed in the prompt by this module, so the full prompt is
known. Every answer carries its provenance: model id + file hash, options, seed, prompt hash.
With ``use_cache`` the answer is looked up first in the store's response cache under
``sha256(model hash + full prompt + options + seed)``; a re-run with the same parameters is then
served from the cache without generating (nor even loading the model).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ChatExtError
from .client import ChatClient

DEFAULT_SYSTEM = "You are a concise assistant. Answer in one or two sentences."
RAG_TEMPLATE = (
    "Use the numbered passages to answer the question. Cite passages like [1].\n\n{passages}\n\n"
    "Question: {question}"
)

_hash_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a model file, or of a model folder's files (sorted by name); cached per mtime."""
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    stat_key = (str(p), sum(f.stat().st_size for f in files), max(int(f.stat().st_mtime) for f in files))
    if stat_key in _hash_cache:
        return _hash_cache[stat_key]
    digest = hashlib.sha256()
    for f in files:
        if p.is_dir():
            digest.update(f.relative_to(p).as_posix().encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    _hash_cache[stat_key] = digest.hexdigest()
    return _hash_cache[stat_key]


def model_fingerprint(info: dict[str, Any], client: ChatClient | None = None) -> str:
    """The model's file hash when its file is reachable from here, else id + size + format.

    With a ``client`` the hash is remembered in its response cache (keyed by path, size and
    mtime), so a cached re-run does not read the model file again.
    """
    path = info.get("path")
    if not path or not Path(path).exists():
        return f"id:{info.get('id')}:{info.get('size_bytes')}:{info.get('format')}"
    p = Path(path).resolve()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    stamp = f"{sum(f.stat().st_size for f in files)}:{max(f.stat().st_mtime_ns for f in files)}"
    key = "model-hash:" + hashlib.sha256(f"{p}:{stamp}".encode()).hexdigest()
    if client is not None:
        known = client.cache_get(key)
        if known and known.get("hash"):
            return str(known["hash"])
    digest = "sha256:" + file_sha256(p)
    if client is not None:
        client.cache_put(key, {"hash": digest})
    return digest


def cache_key(model_hash: str, messages: list[dict[str, str]], options: dict[str, Any]) -> str:
    blob = json.dumps({"model": model_hash, "messages": messages, "options": options}, sort_keys=True)
    return "report:" + hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Answer:
    question: str
    answer: str
    status: str
    finish_reason: str | None
    sources: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    cached: bool = False
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_prompt(question: str, hits: list[dict[str, Any]]) -> str:
    if not hits:
        return question
    passages = "\n\n".join(
        f"[{i}] ({h.get('source')}) {h.get('text', '').strip()}" for i, h in enumerate(hits, 1)
    )
    return RAG_TEMPLATE.format(passages=passages, question=question)


def _source(hit: dict[str, Any]) -> dict[str, Any]:
    return {k: hit.get(k) for k in ("source", "location", "score", "text")}


def answer_questions(
    client: ChatClient,
    questions: list[str],
    *,
    model: str | None = None,
    collection: str | None = None,
    seed: int = 0,
    max_tokens: int = 48,
    use_cache: bool = False,
    k: int = 3,
    system: str = DEFAULT_SYSTEM,
) -> list[Answer]:
    """Answer each question reproducibly (see the module doc)."""
    models = {m["id"]: m for m in client.list_models()}
    model_id = model or _default_model(client, models)
    if model_id not in models:
        raise ChatExtError(f"unknown model {model_id!r}; known: {', '.join(models)}", code="not_found")
    model_hash = model_fingerprint(models[model_id], client if use_cache else None)
    options = {"temperature": 0.0, "max_tokens": int(max_tokens), "seed": int(seed)}
    answers = []
    for question in questions:
        t0 = time.perf_counter()
        hits = client.search(collection, question, k=k) if collection else []
        prompt = build_prompt(question, hits)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
        key = cache_key(model_hash, messages, options)
        provenance = {
            "model": model_id,
            "model_hash": model_hash,
            "options": options,
            "seed": int(seed),
            "collection": collection,
            "prompt_sha256": hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest(),
            "cache_key": key,
            "mode": client.mode,
            "package_version": __version__,
        }
        cached = client.cache_get(key) if use_cache else None
        if cached is not None:
            answer = Answer(
                question=question,
                answer=cached["answer"],
                status=cached.get("status", "complete"),
                finish_reason=cached.get("finish_reason"),
                sources=cached.get("sources", []),
                metrics=cached.get("metrics", {}),
                provenance={**provenance, "session_id": cached.get("session_id")},
                cached=True,
            )
        else:
            answer = _generate(client, question, prompt, model_id, system, options, provenance)
            answer.sources = [_source(h) for h in hits]
            if use_cache and answer.status == "complete":
                client.cache_put(key, {k2: v for k2, v in answer.to_dict().items() if k2 != "cached"})
        answer.wall_s = time.perf_counter() - t0
        answers.append(answer)
    return answers


def _default_model(client: ChatClient, models: dict[str, dict[str, Any]]) -> str:
    health = {}
    try:
        health = client.health()
    except ChatExtError:
        pass
    default = (health.get("engine") or {}).get("default_model") if isinstance(health, dict) else None
    if default in models:
        return default
    from ..settings import Settings

    default = Settings.__dataclass_fields__["default_model"].default
    if default in models:
        return default
    chat_models = [mid for mid, m in models.items() if m.get("kind") == "chat"]
    if not chat_models:
        raise ChatExtError("no chat model is available", code="unavailable")
    return chat_models[0]


def _generate(
    client: ChatClient,
    question: str,
    prompt: str,
    model_id: str,
    system: str,
    options: dict[str, Any],
    provenance: dict[str, Any],
) -> Answer:
    session = client.create_session(title=f"report: {question[:60]}", model=model_id, system_prompt=system)
    text: list[str] = []
    done: dict[str, Any] = {}
    with client.chat(session["id"], prompt, params=options) as stream:
        for event in stream:
            if event.get("type") == "token":
                text.append(event.get("text", ""))
            elif event.get("type") in ("done", "error"):
                done = event
    if done.get("type") == "error":
        raise ChatExtError(f"answering {question!r} failed: {done.get('message')}", code=done.get("code"))
    return Answer(
        question=question,
        answer="".join(text),
        status=done.get("status", "complete"),
        finish_reason=done.get("finish_reason"),
        metrics=dict(done.get("metrics") or {}),
        provenance={**provenance, "session_id": session["id"], "message_id": done.get("message_id")},
    )
