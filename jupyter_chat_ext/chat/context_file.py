"""A file of the server root as chat context (the sidebar's ``@file:path``), via the RAG loaders.

The same loaders that ingest files into a collection read them here, so a notebook comes back as
its cells' text, a PDF or .docx as its text, code as code; a file the loaders cannot read gets the
same reason the ingest report would give. Blocking: doors call it on a worker thread.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from ..errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMedia
from ..rag.loaders import LoadError, is_supported, load_file
from ..rag.loaders.walk import hidden_under
from ..wire.base import parse
from ..wire.complete import DEFAULT_MAX_CHARS, ContextFileRequest

#: a PDF or notebook larger than this is not context for one chat message
MAX_FILE_BYTES = 20 * 1024 * 1024


def parse_context_file(body: dict[str, Any] | ContextFileRequest) -> tuple[str, int]:
    """(path, max_chars) from a ``POST /chat-ext/context/file`` body (``wire.complete``)."""
    if not isinstance(body, ContextFileRequest):
        body = parse(ContextFileRequest, body)
    return body.path, body.max_chars or DEFAULT_MAX_CHARS


def confine(path: str, root: str | os.PathLike[str]) -> Path:
    """``path`` (relative to ``root``, or absolute) resolved with symlinks; Forbidden outside root."""
    root_path = Path(root).resolve()
    raw = Path(path)
    try:
        resolved = (raw if raw.is_absolute() else root_path / raw).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name the file system cannot hold
        raise InvalidInput(f"path {path[:200]!r} cannot be used: {exc}", code="invalid_value") from None
    if resolved != root_path and root_path not in resolved.parents:
        raise Forbidden(f"path {path[:200]!r} is outside the server root", code="path_outside_root")
    return resolved


def read_context_file(
    path: str,
    root: str | os.PathLike[str],
    max_chars: int = DEFAULT_MAX_CHARS,
    *,
    allow_hidden: bool = False,
) -> dict[str, Any]:
    """``{path, text, truncated, chars}``: the file's text, cut to ``max_chars`` characters.

    ``path`` in the answer is relative to the root (what the sidebar shows on the chip); ``chars``
    is the length of the whole text, so the client can say how much was left out. A hidden path
    (a component starting with '.', as named or after symlinks) is "not found" unless
    ``allow_hidden`` (Jupyter's ``ContentsManager.allow_hidden``): the contents API answers 404
    for it, and the same words as a missing file tell nothing about what exists there.
    """
    target = confine(path, root)
    try:
        if not target.exists() or (not allow_hidden and hidden_under(path, root)):
            raise NotFound(f"no file {path[:200]!r} under the server root", code="not_found")
        if target.is_dir():
            raise Unprocessable(f"{path[:200]!r} is a folder, not a file", code="not_a_file")
        size = target.stat().st_size
    except OSError as exc:  # a name the file system cannot hold, EACCES on a parent folder
        if exc.errno == errno.ENAMETOOLONG:
            raise InvalidInput(
                f"path {path[:100]!r}... is too long for the file system", code="invalid_value"
            ) from None
        raise Unprocessable(
            f"cannot read {path[:200]!r}: {exc.strerror or exc}", code="unreadable_file"
        ) from None
    if size > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"{path[:200]!r} is {size} bytes; the limit for context is {MAX_FILE_BYTES}")
    if not is_supported(target, sniff=True):
        raise UnsupportedMedia(
            f"{path[:200]!r} is not a file type the loaders read (text, code, notebooks, PDF, docx, HTML)",
            code="unsupported_file_type",
        )
    try:
        text = load_file(target).text
    except LoadError as exc:
        raise Unprocessable(f"cannot read {path[:200]!r}: {exc}", code="unreadable_file") from None
    rel = target.relative_to(Path(root).resolve()).as_posix()
    return {"path": rel, "text": text[:max_chars], "truncated": len(text) > max_chars, "chars": len(text)}
