"""Files of the server root whose path matches what was typed after ``@file:`` (fuzzy).

The sidebar's ``@file:gui`` should find ``docs/gui.md`` without first navigating into ``docs/``
(issue 20): the root is walked once per query (cheap next to a chat turn: a few thousand entries)
and each path scored. Hidden files and folders (a name starting with '.') are skipped unless
Jupyter's ``ContentsManager.allow_hidden`` says the contents API would show them; symlinks are
not followed (a link out of the root must not widen what a query can see); the walk stops after
``MAX_ENTRIES`` entries so a huge root answers quickly with what it found. Blocking: doors call it
on a worker thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..wire.base import parse
from ..wire.complete import ContextFilesQuery

#: entries visited at most per query (a home folder as root holds millions)
MAX_ENTRIES = 20_000
#: folders that hold no context anyone types a name for (generated or vendored)
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", ".git"})


def parse_query(q: Any, limit: Any) -> tuple[str, int]:
    """(q stripped, limit) of ``GET /chat-ext/context/files`` (``wire.complete.ContextFilesQuery``)."""
    query = parse(
        ContextFilesQuery, {"q": q, "limit": 20 if limit is None else limit}, where="query parameter"
    )
    return query.q.strip(), query.limit


def score(path: str, query: str) -> float:
    """Higher is better; 0: no match. The file name beats the folders, a prefix beats a middle,
    consecutive letters beat scattered ones (the order fzf and VS Code's quick open use)."""
    p, q = path.lower(), query.lower()
    name = p.rsplit("/", 1)[-1]
    if name == q:
        return 100.0
    if name.startswith(q):
        return 80.0 - len(name) / 100
    if q in name:
        return 60.0 - len(name) / 100
    if q in p:
        return 40.0 - len(p) / 1000
    # letters in order, anywhere in the path: scored by how tightly they sit
    pos, gaps, start = -1, 0, None
    for ch in q:
        nxt = p.find(ch, pos + 1)
        if nxt < 0:
            return 0.0
        if start is None:
            start = nxt
        elif nxt != pos + 1:
            gaps += 1
        pos = nxt
    return max(1.0, 20.0 - gaps - len(p) / 1000)


def find_files(
    root: str | os.PathLike[str], query: str, limit: int = 20, *, allow_hidden: bool = False
) -> list[dict[str, Any]]:
    """``[{path, name, type}]`` best first: files (and notebooks) under ``root`` matching ``query``."""
    base = Path(root).resolve()
    found: list[tuple[float, str]] = []
    seen = 0
    for folder, dirs, files in os.walk(base, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and (allow_hidden or not d.startswith(".")))
        rel_folder = Path(folder).relative_to(base).as_posix()
        for name in files:
            seen += 1
            if not allow_hidden and name.startswith("."):
                continue
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            s = score(rel, query)
            if s > 0:
                found.append((s, rel))
        if seen >= MAX_ENTRIES:
            break
    found.sort(key=lambda x: (-x[0], x[1]))
    return [
        {
            "path": rel,
            "name": rel.rsplit("/", 1)[-1],
            "type": "notebook" if rel.endswith(".ipynb") else "file",
        }
        for _, rel in found[:limit]
    ]
