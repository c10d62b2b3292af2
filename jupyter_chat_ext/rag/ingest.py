"""Incremental ingest: files -> chunks -> vectors -> LanceDB rows, doing no work twice.

Per file a SHA-256 of its bytes: a file whose hash is already in the table is not even parsed.
A changed file is re-chunked; each chunk has a SHA-256 of its text, and chunks whose text the file
already had reuse their stored vectors, so only new text is embedded; the file's old rows are then
replaced. Files once ingested under a folder that is walked again and no longer there drop out.
Chunks from many files are embedded together in large batches and written in large appends, so the
run's rate stays close to the bare embedding rate.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from .chunkers import Chunk, Chunker
from .index import LanceIndex, chunk_schema
from .loaders import Discovery, LoadError, load_file

EMBED_BATCH = 256
WRITE_BATCH = 4096
Progress = Callable[[dict[str, Any]], None]


@dataclass
class IngestReport:
    collection: str
    files_total: int = 0
    files_done: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_deleted: int = 0
    #: chunks written this run (new or changed files)
    chunks: int = 0
    #: of those, chunks whose vector was reused from the previous version of their file
    chunks_reused: int = 0
    #: texts sent to the embedder this run
    embedded: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: chunks written per second of the whole run
    rate: float = 0.0
    indexes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _under(path: str, folders: Sequence[Path]) -> bool:
    p = Path(path)
    for folder in folders:
        try:
            p.relative_to(folder)
            return True
        except ValueError:
            continue
    return False


class Ingestor:
    """One ingest run over discovered files into one collection (hold the collection's write lock)."""

    def __init__(
        self,
        index: LanceIndex,
        name: str,
        embedder: Any,
        chunker: Chunker,
        *,
        root: Path | None = None,
        include_outputs: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.index = index
        self.name = name
        self.embedder = embedder
        self.chunker = chunker
        self.root = root
        self.include_outputs = include_outputs
        self.progress = progress
        self.schema = chunk_schema(int(embedder.dim))
        self._rows: list[dict[str, Any]] = []
        self._to_embed: list[int] = []  # positions in _rows still lacking a vector
        self._replace: set[str] = set()  # paths whose old rows go when the pending rows are written
        self._started = 0.0
        self._had_deletes = False

    def _source(self, path: Path) -> str:
        if self.root is not None:
            try:
                return path.relative_to(self.root).as_posix()
            except ValueError:
                pass
        return str(path)

    def _report_progress(self, report: IngestReport) -> None:
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        report.rate = round(report.chunks / elapsed, 2)
        if self.progress is not None:
            self.progress(
                {
                    "files_total": report.files_total,
                    "files_done": report.files_done,
                    "chunks": report.chunks,
                    "embedded": report.embedded,
                    "skipped": list(report.skipped),
                    "rate": report.rate,
                }
            )

    def run(self, discovery: Discovery) -> IngestReport:
        self._started = time.perf_counter()
        report = IngestReport(self.name, files_total=len(discovery.files))
        report.skipped.extend(discovery.skipped)
        manifest = self.index.manifest(self.name)
        seen: set[str] = set()
        self._report_progress(report)
        for path in discovery.files:
            key = str(path)
            seen.add(key)
            try:
                self._one_file(path, key, manifest, report)
            except LoadError as exc:
                report.skipped.append({"path": self._source(path), "reason": str(exc)})
                if key in manifest:  # its content is gone or broken: drop the stale chunks
                    self._replace.add(key)
            except OSError as exc:
                report.skipped.append({"path": self._source(path), "reason": f"cannot read: {exc}"})
            report.files_done += 1
            if len(self._to_embed) >= EMBED_BATCH:
                self._embed_pending(report)
            if len(self._rows) >= WRITE_BATCH:
                self._write_pending(report)
            self._report_progress(report)
        gone = [p for p in manifest if p not in seen and _under(p, discovery.folders)]
        self._replace.update(gone)
        report.files_deleted = len(gone)
        self._embed_pending(report)
        self._write_pending(report)
        if report.chunks or self._had_deletes:
            report.indexes = self.index.refresh_indexes(self.name)
        report.seconds = round(time.perf_counter() - self._started, 3)
        self._report_progress(report)
        return report

    def _one_file(self, path: Path, key: str, manifest: dict[str, str], report: IngestReport) -> None:
        file_hash = sha256_file(path)
        previous = manifest.get(key)
        if previous == file_hash:
            report.files_unchanged += 1
            return
        doc = load_file(path, include_outputs=self.include_outputs)
        chunks: list[Chunk] = self.chunker.chunk(doc)
        if not chunks:
            raise LoadError("no text to index")
        old_vectors = self.index.vectors_for_path(self.name, key) if previous is not None else {}
        if previous is not None:
            self._replace.add(key)
            report.files_changed += 1
        else:
            report.files_new += 1
        source = self._source(path)
        path_id = sha256_text(key)[:10]
        for i, chunk in enumerate(chunks):
            chunk_hash = sha256_text(chunk.text)
            vector = old_vectors.get(chunk_hash)
            row = {
                "chunk_id": f"{path_id}-{i:05d}-{chunk_hash[:10]}",
                "text": chunk.text,
                "vector": vector,
                "path": key,
                "source": source,
                "file_type": doc.file_type,
                "file_hash": file_hash,
                "chunk_hash": chunk_hash,
                "chunk_index": i,
                "location": json.dumps(chunk.location, sort_keys=True),
            }
            if vector is None:
                self._to_embed.append(len(self._rows))
            else:
                report.chunks_reused += 1
            self._rows.append(row)

    def _embed_pending(self, report: IngestReport) -> None:
        if not self._to_embed:
            return
        texts = [self._rows[i]["text"] for i in self._to_embed]
        vectors = self.embedder.embed(texts)
        for i, vec in zip(self._to_embed, vectors, strict=True):
            self._rows[i]["vector"] = vec
        report.embedded += len(texts)
        self._to_embed = []

    def _write_pending(self, report: IngestReport) -> None:
        self._embed_pending(report)
        if self._replace:
            self.index.delete_paths(self.name, sorted(self._replace))
            self._had_deletes = True
            self._replace = set()
        if not self._rows:
            return
        dim = self.schema.field("vector").type.list_size
        vectors = np.stack([np.asarray(r["vector"], dtype=np.float32) for r in self._rows])
        columns = {
            f.name: pa.array([r[f.name] for r in self._rows], type=f.type)
            for f in self.schema
            if f.name != "vector"
        }
        columns["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
        table = pa.table({f.name: columns[f.name] for f in self.schema}, schema=self.schema)
        self.index.add(self.name, table)
        report.chunks += table.num_rows
        self._rows = []
