"""What a loader hands to the chunkers: a document made of typed sections with locations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SectionKind = Literal["prose", "markdown", "code"]


class LoadError(Exception):
    """A file could not be read or parsed; the ingest reports it as skipped and goes on."""


@dataclass
class Section:
    """A run of text of one kind, with where it came from (page, cell, first line)."""

    text: str
    kind: SectionKind = "prose"
    #: where the section sits in its file: {"page": 3} or {"cell": 4, "cell_type": "code"}
    location: dict[str, Any] = field(default_factory=dict)
    #: 1-based line number of the section's first line in its file (or cell)
    first_line: int = 1
    #: programming language for code sections ("python", "javascript", ...)
    language: str | None = None


@dataclass
class Document:
    path: str
    file_type: str
    sections: list[Section]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)
