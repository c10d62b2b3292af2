"""Jupyter notebooks: markdown and code cells (outputs on request), each cell located by index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .documents import Document, LoadError, Section


def _source(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _output_text(output: dict[str, Any]) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _source(output.get("text"))
    if kind in ("execute_result", "display_data"):
        data = output.get("data") or {}
        for mime in ("text/markdown", "text/plain"):
            if mime in data:
                return _source(data[mime])
    if kind == "error":
        return f"{output.get('ename', '')}: {output.get('evalue', '')}"
    return ""


def load_notebook(path: Path, *, include_outputs: bool = False) -> Document:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LoadError(f"not a valid notebook (JSON): {exc}") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise LoadError("not a valid notebook: no cell list")
    lang = (nb.get("metadata", {}).get("kernelspec", {}) or {}).get("language") or (
        nb.get("metadata", {}).get("language_info", {}) or {}
    ).get("name", "python")
    sections = []
    for index, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            continue
        ctype = cell.get("cell_type")
        text = _source(cell.get("source"))
        if ctype == "code" and include_outputs:
            outs = [_output_text(o) for o in cell.get("outputs") or [] if isinstance(o, dict)]
            outs = [o.strip() for o in outs if o.strip()]
            if outs:
                text = text + "\n# Output:\n" + "\n".join(outs)
        if not text.strip():
            continue
        kind = "code" if ctype == "code" else ("markdown" if ctype == "markdown" else "prose")
        sections.append(
            Section(
                text,
                kind,
                location={"cell": index, "cell_type": ctype},
                language=lang if kind == "code" else None,
            )
        )
    return Document(str(path), "ipynb", sections)
