"""Structure-aware chunking within a token budget, keeping where each chunk came from.

- markdown (also .docx/.html, which the loaders turn into markdown): split at headings, each chunk
  carries its heading path ("Guide > Install") as its first line and in its location;
- Python: top-level functions/classes via ``ast`` (a big class splits at its methods); other code:
  blank-line blocks; code chunks never overlap;
- notebooks: consecutive cells grouped up to the budget (a big cell is split by its own kind);
- prose: paragraphs, then sentences, then word windows, packed up to the budget, with the last
  sentence of a chunk repeated at the start of the next (overlap).

Tokens are counted with the embedder's tokenizer (MiniLM truncates at 256 word pieces), so a chunk
is embedded whole.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .loaders.documents import Document, Section

CountBatch = Callable[[Sequence[str]], list[int]]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE = re.compile(r"(?<=[.!?。])\s+(?=\S)")
#: file types whose line numbers are not the user's (text extracted from a binary format)
NO_LINES = {"pdf", "docx", "html"}


@dataclass
class Chunk:
    text: str
    location: dict[str, Any] = field(default_factory=dict)
    kind: str = "prose"


@dataclass
class _Unit:
    text: str
    start: int  # first line (1-based, in the file or cell)
    end: int  # last line
    tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def whitespace_token_count(texts: Sequence[str]) -> list[int]:
    """A rough counter (1.3 word pieces per word) for callers without a tokenizer."""
    return [int(len(t.split()) * 1.3) + 1 for t in texts]


class Chunker:
    def __init__(
        self,
        count_tokens: CountBatch | None = None,
        *,
        max_tokens: int = 200,
        overlap_tokens: int = 32,
    ) -> None:
        if max_tokens < 16:
            raise ValueError("max_tokens must be >= 16")
        self.count = count_tokens or whitespace_token_count
        self.max_tokens = max_tokens
        self.overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))

    # -- entry point ---------------------------------------------------------------------------
    def chunk(self, doc: Document) -> list[Chunk]:
        if doc.file_type == "ipynb":
            chunks = self._notebook(doc.sections)
        else:
            chunks = []
            for section in doc.sections:
                chunks.extend(self._section(section))
        if doc.file_type in NO_LINES:
            for c in chunks:
                c.location.pop("lines", None)
        return [c for c in chunks if c.text.strip()]

    def _section(self, section: Section) -> list[Chunk]:
        if section.kind == "markdown":
            return self._markdown(section)
        if section.kind == "code":
            return self._code(section)
        return self._prose(section.text, section.first_line, dict(section.location))

    # -- packing -------------------------------------------------------------------------------
    def _measure(self, units: list[_Unit]) -> None:
        todo = [u for u in units if not u.tokens]
        for u, n in zip(todo, self.count([u.text for u in todo]), strict=True):
            u.tokens = max(n, 1)

    def _pack(self, units: list[_Unit], budget: int, *, overlap: bool) -> list[list[_Unit]]:
        groups: list[list[_Unit]] = []
        cur: list[_Unit] = []
        used = 0
        for u in units:
            if cur and used + u.tokens > budget:
                groups.append(cur)
                cur, used = [], 0
                if overlap and self.overlap_tokens:
                    carry = self._tail_sentence(groups[-1][-1])
                    if carry is not None and carry.tokens + u.tokens <= budget:
                        cur, used = [carry], carry.tokens
            cur.append(u)
            used += u.tokens
        if cur:
            groups.append(cur)
        return groups

    def _tail_sentence(self, unit: _Unit) -> _Unit | None:
        """The last sentence of a chunk, repeated at the start of the next one when it is short."""
        sentences = [x for x in _SENTENCE.split(unit.text.strip()) if x.strip()]
        if not sentences:
            return None
        last = sentences[-1].strip()
        n = self.count([last])[0]
        if n > self.overlap_tokens:
            return None
        return _Unit(last, unit.end, unit.end, max(n, 1), extra={"para": unit.extra.get("para", id(unit))})

    def _split_oversized(self, unit: _Unit, budget: int, *, code: bool) -> list[_Unit]:
        """A unit over budget -> lines (code) or sentences then word windows (prose)."""
        if unit.tokens <= budget:
            return [unit]
        if code or _FENCE.match(unit.text):
            lines = unit.text.split("\n")
            parts = [_Unit(line, unit.start + i, unit.start + i) for i, line in enumerate(lines)]
            self._measure(parts)
            out: list[_Unit] = []
            for group in self._pack(parts, budget, overlap=False):
                if len(group) == 1 and group[0].tokens > budget:
                    out.extend(self._word_windows(group[0], budget))
                else:
                    out.append(_join(group, "\n"))
            return out
        sentences = [s for s in _SENTENCE.split(unit.text) if s.strip()]
        if len(sentences) > 1:
            para = {"para": id(unit)}
            parts = [_Unit(s, unit.start, unit.end, extra=para) for s in sentences]
            self._measure(parts)
            out = []
            for p in parts:
                out.extend(self._word_windows(p, budget) if p.tokens > budget else [p])
            return out
        return self._word_windows(unit, budget)

    def _word_windows(self, unit: _Unit, budget: int) -> list[_Unit]:
        words = unit.text.split(" ")
        per_word = unit.tokens / max(len(words), 1)
        size = max(1, int(budget / max(per_word, 1e-6) * 0.9))
        out = []
        for i in range(0, len(words), size):
            piece = " ".join(words[i : i + size])
            extra = {**unit.extra, "partial": True}
            u = _Unit(piece, unit.start, unit.end, extra=extra)
            self._measure([u])
            while u.tokens > budget and len(piece) > 1:  # very dense text: halve until it fits
                piece = piece[: len(piece) // 2]
                u = _Unit(piece, unit.start, unit.end, extra=extra)
                self._measure([u])
            out.append(u)
            if len(piece) < len(" ".join(words[i : i + size])):
                rest = " ".join(words[i : i + size])[len(piece) :]
                ru = _Unit(rest, unit.start, unit.end, extra=extra)
                self._measure([ru])
                out.extend(self._word_windows(ru, budget) if ru.tokens > budget else [ru])
        return out

    def _emit(
        self, groups: list[list[_Unit]], base: dict[str, Any], kind: str, sep: str, prefix: str = ""
    ) -> list[Chunk]:
        chunks = []
        for group in groups:
            joined = _join(group, sep)
            loc = dict(base)
            loc["lines"] = [joined.start, joined.end]
            text = f"{prefix}\n\n{joined.text}" if prefix else joined.text
            chunks.append(Chunk(text.strip("\n"), loc, kind))
        return chunks

    # -- prose ---------------------------------------------------------------------------------
    def _paragraph_units(self, text: str, first_line: int) -> list[_Unit]:
        units: list[_Unit] = []
        buf: list[str] = []
        start = first_line
        fenced = False
        for i, line in enumerate(text.split("\n")):
            lineno = first_line + i
            if _FENCE.match(line):
                fenced = not fenced
            if line.strip() or fenced:
                if not buf:
                    start = lineno
                buf.append(line)
            elif buf:
                units.append(_Unit("\n".join(buf), start, lineno - 1))
                buf = []
        if buf:
            units.append(_Unit("\n".join(buf), start, start + len(buf) - 1))
        return units

    def _prose(
        self, text: str, first_line: int, base: dict[str, Any], prefix: str = "", kind: str = "prose"
    ) -> list[Chunk]:
        budget = self._budget(prefix)
        units = self._paragraph_units(text, first_line)
        self._measure(units)
        units = [p for u in units for p in self._split_oversized(u, budget, code=False)]
        return self._emit(self._pack(units, budget, overlap=True), base, kind, "\n\n", prefix)

    def _budget(self, prefix: str) -> int:
        if not prefix:
            return self.max_tokens
        return max(self.max_tokens - self.count([prefix])[0] - 2, self.max_tokens // 2)

    # -- markdown ------------------------------------------------------------------------------
    def _markdown(self, section: Section) -> list[Chunk]:
        lines = section.text.split("\n")
        path: list[tuple[int, str]] = []
        blocks: list[tuple[list[str], int, list[str]]] = []  # (heading path, first line, lines)
        body: list[str] = []
        body_start = section.first_line
        fenced = False

        def flush() -> None:
            if any(b.strip() for b in body):
                blocks.append(([t for _, t in path], body_start, list(body)))

        for i, line in enumerate(lines):
            lineno = section.first_line + i
            if _FENCE.match(line):
                fenced = not fenced
            m = None if fenced else _HEADING.match(line)
            if m:
                flush()
                level = len(m.group(1))
                path = [(lv, t) for lv, t in path if lv < level] + [(level, m.group(2).strip())]
                body, body_start = [], lineno + 1
            else:
                body.append(line)
        flush()
        chunks: list[Chunk] = []
        for heading, start, body_lines in blocks:
            base = dict(section.location)
            prefix = " > ".join(heading)
            if heading:
                base["heading"] = prefix
            chunks.extend(self._prose("\n".join(body_lines), start, base, prefix, kind="markdown"))
        return chunks

    # -- code ----------------------------------------------------------------------------------
    def _code(self, section: Section) -> list[Chunk]:
        units = None
        if (section.language or "").lower() == "python":
            units = self._python_units(section.text, section.first_line)
        if units is None:
            units = self._block_units(section.text, section.first_line)
        self._measure(units)
        budget = self.max_tokens
        expanded: list[_Unit] = []
        for u in units:
            if u.tokens > budget and u.extra.get("class"):
                inner = self._python_units(u.text, u.start, nested=True)
                if inner and len(inner) > 1:
                    self._measure(inner)
                    for v in inner:
                        expanded.extend(self._split_oversized(v, budget, code=True))
                    continue
            expanded.extend(self._split_oversized(u, budget, code=True))
        base = dict(section.location)
        if section.language:
            base["language"] = section.language
        src = section.text.split("\n")
        chunks = []
        for group in self._pack(expanded, budget, overlap=False):
            joined = _join(group, "\n")
            text = joined.text
            if not any(u.extra.get("partial") for u in group):  # whole lines: keep the blank ones too
                first = section.first_line
                text = "\n".join(src[joined.start - first : joined.end - first + 1])
            loc = {**base, "lines": [joined.start, joined.end]}
            names = [u.extra["name"] for u in group if u.extra.get("name")]
            if names:
                loc["symbols"] = names
            chunks.append(Chunk(text.strip("\n"), loc, "code"))
        return chunks

    def _python_units(self, text: str, first_line: int, nested: bool = False) -> list[_Unit] | None:
        import textwrap

        source = textwrap.dedent(text) if nested else text
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            return None
        nodes = tree.body
        owner = ""
        if nested and len(nodes) == 1 and isinstance(nodes[0], ast.ClassDef):
            owner = nodes[0].name
            nodes = nodes[0].body
        lines = text.split("\n")
        starts: list[tuple[int, dict[str, Any]]] = []
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                line = min([node.lineno] + [d.lineno for d in node.decorator_list])
                # comments right above a definition belong to it
                while line > 1 and lines[line - 2].lstrip().startswith("#"):
                    line -= 1
                name = f"{owner}.{node.name}" if owner else node.name
                info = {"name": name, "class": isinstance(node, ast.ClassDef)}
                starts.append((line, info))
        if not starts:
            return self._block_units(text, first_line)
        bounds = [s for s, _ in starts]
        units: list[_Unit] = []
        if bounds[0] > 1:
            head = "\n".join(lines[: bounds[0] - 1])
            if head.strip():
                head_info = {"name": owner} if owner else {}
                units.append(
                    _Unit(head.rstrip("\n"), first_line, first_line + bounds[0] - 2, extra=head_info)
                )
        for idx, (start, info) in enumerate(starts):
            end = bounds[idx + 1] - 1 if idx + 1 < len(bounds) else len(lines)
            seg = "\n".join(lines[start - 1 : end]).rstrip()
            if seg.strip():
                seg_lines = seg.count("\n") + 1
                units.append(
                    _Unit(seg, first_line + start - 1, first_line + start - 2 + seg_lines, extra=info)
                )
        return units

    def _block_units(self, text: str, first_line: int) -> list[_Unit]:
        return self._paragraph_units(text, first_line)

    # -- notebooks -----------------------------------------------------------------------------
    def _notebook(self, sections: list[Section]) -> list[Chunk]:
        budget = self.max_tokens
        units: list[_Unit] = []
        heading = ""
        whole = [_Unit(s.text, 1, s.text.count("\n") + 1) for s in sections]
        self._measure(whole)
        for s, w in zip(sections, whole, strict=True):
            cell = s.location.get("cell")
            if s.kind == "markdown":
                for line in s.text.split("\n"):
                    m = _HEADING.match(line)
                    if m:
                        heading = m.group(2).strip()
                        break
            extra = {"cell": cell, "cell_type": s.location.get("cell_type"), "heading": heading}
            if w.tokens <= budget:
                w.extra = extra
                units.append(w)
                continue
            for part in self._section(Section(s.text, s.kind, {}, 1, s.language)):
                u = _Unit(part.text, *part.location.get("lines", [1, 1]), extra=extra)
                units.append(u)
        self._measure(units)
        chunks = []
        for group in self._pack(units, budget, overlap=False):
            cells = sorted({u.extra["cell"] for u in group})
            loc: dict[str, Any] = {"cell": cells[0]} if len(cells) == 1 else {"cells": [cells[0], cells[-1]]}
            if len(cells) == 1:
                loc["lines"] = [group[0].start, group[-1].end]
            headings = [u.extra["heading"] for u in group if u.extra.get("heading")]
            if headings:
                loc["heading"] = headings[0]
            chunks.append(Chunk("\n\n".join(u.text for u in group).strip("\n"), loc, "notebook"))
        return chunks


def _join(group: list[_Unit], sep: str) -> _Unit:
    """Join units; sentences of one paragraph are joined by a space, anything else by ``sep``."""
    pieces = [group[0].text]
    for prev, unit in itertools.pairwise(group):
        same_para = prev.extra.get("para") is not None and prev.extra.get("para") == unit.extra.get("para")
        pieces.append(" " if same_para else sep)
        pieces.append(unit.text)
    return _Unit(
        "".join(pieces),
        min(u.start for u in group),
        max(u.end for u in group),
        sum(u.tokens for u in group),
    )


def describe_location(location: dict[str, Any]) -> str:
    """A short human label for a chunk's location: 'p. 3', 'cell 4', 'lines 10-20 · Intro > Setup'."""
    parts = []
    if "page" in location:
        parts.append(f"p. {location['page']}")
    if "cell" in location:
        parts.append(f"cell {location['cell']}")
    if "cells" in location:
        a, b = location["cells"]
        parts.append(f"cells {a}-{b}")
    if "lines" in location and "cells" not in location:
        a, b = location["lines"]
        parts.append(f"line {a}" if a == b else f"lines {a}-{b}")
    if location.get("heading"):
        parts.append(str(location["heading"]))
    return " · ".join(parts)
