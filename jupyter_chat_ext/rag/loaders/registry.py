"""Which loader reads which file, and the one entry point ``load_file``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..clean import clean_text
from .documents import Document, LoadError
from .text import CODE_EXTS, MARKDOWN_EXTS, PROSE_EXTS, TEXT_NAMES

RICH_EXTS = {".ipynb", ".pdf", ".docx", ".html", ".htm", ".xhtml"}
TEXT_EXTS = MARKDOWN_EXTS | PROSE_EXTS | set(CODE_EXTS)
SUPPORTED_EXTS = TEXT_EXTS | RICH_EXTS


def _looks_textual(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8192)
    except OSError:
        return False
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end is fine
        return exc.start >= len(head) - 4


def is_supported(path: Path, *, sniff: bool = False) -> bool:
    """Known extension, a well-known extensionless name, or (``sniff``) text content."""
    ext = path.suffix.lower()
    if ext in SUPPORTED_EXTS:
        return True
    if not ext and path.name.lower() in TEXT_NAMES:
        return True
    return sniff and _looks_textual(path)


def file_type(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    return {"htm": "html", "xhtml": "html", "markdown": "md"}.get(ext, ext or "txt")


def load_file(path: Path, *, include_outputs: bool = False) -> Document:
    """Read one file into a Document; LoadError (with a reason) when it cannot be read."""
    from .notebook import load_notebook
    from .office import load_docx, load_html, load_pdf
    from .text import load_text

    ext = path.suffix.lower()
    loaders: dict[str, Callable[[Path], Document]] = {
        ".pdf": load_pdf,
        ".docx": load_docx,
        ".html": load_html,
        ".htm": load_html,
        ".xhtml": load_html,
    }
    try:
        if ext == ".ipynb":
            doc = load_notebook(path, include_outputs=include_outputs)
        elif ext in loaders:
            doc = loaders[ext](path)
        else:
            doc = load_text(path)
    except LoadError:
        raise
    except MemoryError as exc:
        raise LoadError("file too large to load") from exc
    except OSError as exc:
        raise LoadError(f"cannot read: {exc.strerror or exc}") from exc
    except Exception as exc:  # a parser's own error on a corrupt file: report and skip it
        raise LoadError(f"{type(exc).__name__}: {exc}") from exc
    doc.file_type = file_type(path)
    for section in doc.sections:  # JSON escapes ("\ud800" in a notebook) and PDF text maps can
        section.text = clean_text(section.text)  # yield lone surrogates: tokenizers reject them
    return doc
