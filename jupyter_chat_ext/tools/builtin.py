"""Tools that run inside the server process: ``read_file``, confined to the server's root folder.

They are blocking functions (file reads, document parsing); the registry calls them on a worker
thread. Failures the model can act on (no such file, outside the root, a binary file) come back
as error *results*, not exceptions: the model reads the reason and may try another path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spec import ToolResult, ToolSpec

#: a file larger than this is refused before it is opened (a PDF is parsed whole)
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class BuiltinContext:
    root: Path  # the folder file tools may read (resolved)
    max_chars: int  # the result limit: no point reading more than the model will see


READ_FILE = ToolSpec(
    name="read_file",
    description=(
        "Read a text file, notebook (.ipynb), PDF, Word (.docx) or HTML file under the Jupyter "
        "server's root folder and return its text. Paths are relative to that root."
    ),
    parameters={
        "type": "object",
        "properties": {
            "path": {"type": "string", "minLength": 1, "description": "path relative to the root"}
        },
        "required": ["path"],
        "additionalProperties": False,
    },
    source="builtin",
    effect="read",
)


def confine(raw: str, root: Path) -> Path:
    """``raw`` resolved inside ``root`` (symlinks followed), or ValueError saying why not.

    Hidden files and folders are refused like Jupyter's contents API does by default: they hold
    tokens and credentials (.jupyter, .ssh, .env) that a model must not be able to read out.
    """
    if "\x00" in raw:
        raise ValueError("the path contains a NUL character")
    candidate = Path(os.path.expanduser(raw)) if raw.startswith("~") else Path(raw)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    try:
        relative = resolved.relative_to(root)
    except ValueError:
        raise ValueError(f"{raw!r} is outside the server's root folder") from None
    if any(part.startswith(".") for part in relative.parts):
        raise ValueError(f"{raw!r} is a hidden file or inside a hidden folder")
    return resolved


def read_file(arguments: dict[str, Any], ctx: BuiltinContext) -> ToolResult:
    raw = arguments["path"]
    try:
        path = confine(raw, ctx.root)
    except ValueError as exc:
        return ToolResult.error(f"cannot read {raw!r}: {exc}")
    except OSError as exc:  # e.g. a name too long for the file system
        return ToolResult.error(f"cannot read {raw!r}: {exc.strerror}")
    if not path.exists():
        return ToolResult.error(f"no such file: {raw!r}")
    if path.is_dir():
        names = sorted(
            p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if not p.name.startswith(".")
        )
        return ToolResult(f"{raw!r} is a folder; it holds:\n" + "\n".join(names[:500]))
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return ToolResult.error(
            f"{raw!r} is {size:,} bytes; files over {MAX_FILE_BYTES:,} bytes are not read"
        )
    try:
        if _is_document(path):
            return ToolResult(_document_text(path))
        return _plain_text(path, ctx.max_chars, size)
    except OSError as exc:
        return ToolResult.error(f"cannot read {raw!r}: {exc.strerror or exc}")
    except ValueError as exc:  # binary content, a loader's refusal
        return ToolResult.error(f"cannot read {raw!r}: {exc}")


def _is_document(path: Path) -> bool:
    from jupyter_chat_ext.rag.loaders.registry import RICH_EXTS

    return path.suffix.lower() in RICH_EXTS


def _document_text(path: Path) -> str:
    """Notebooks, PDFs, .docx and HTML through the RAG loaders (the same text retrieval sees)."""
    from jupyter_chat_ext.rag.loaders import LoadError, load_file

    try:
        return load_file(path).text
    except LoadError as exc:
        raise ValueError(str(exc)) from None


def _plain_text(path: Path, max_chars: int, size: int) -> ToolResult:
    """The file as UTF-8, reading no more than the result can hold (a 10 MB log costs 80 kB)."""
    budget = max_chars * 4 if max_chars > 0 else size  # 4 bytes per character at most in UTF-8
    with open(path, "rb") as fh:
        head = fh.read(8192)
        if b"\x00" in head:
            raise ValueError("it looks like a binary file")
        data = head + fh.read(max(0, budget - len(head)))
        more = bool(fh.read(1))
    text = data.decode("utf-8", errors="replace")
    if not more and (max_chars <= 0 or len(text) <= max_chars):
        return ToolResult(text)
    shown = text[:max_chars] if max_chars > 0 else text
    note = f"\n\n[file truncated: showing the first {len(shown):,} characters of a {size:,}-byte file]"
    return ToolResult(shown + note, truncated=True)


#: name -> (spec, blocking runner)
BUILTIN_TOOLS: dict[str, tuple[ToolSpec, Callable[[dict[str, Any], BuiltinContext], ToolResult]]] = {
    READ_FILE.name: (READ_FILE, read_file),
}
