"""Incremental, checkpointed ingest: files -> chunks -> vectors -> LanceDB rows, no work done twice.

Per file a SHA-256 of its bytes: a file whose hash is already in the table is not even parsed.
A changed file is re-chunked; each chunk has a SHA-256 of its text, and chunks whose text the file
already had reuse their stored vectors, so only new text is embedded; the file's old rows are then
replaced. Files once ingested under a folder that is walked again and no longer there drop out.

Commits: whole files are gathered into batches of at most ``batch_chunks`` chunks (128 by default:
a few seconds of embedding on a laptop CPU); each batch is embedded and appended in one LanceDB write,
which is atomic. The table is the job's checkpoint: a crash loses at most the batch in flight, and the
next run over the same paths skips every committed file by its hash, so a resumed job never writes a
chunk twice (kill -9 during a 50-file ingest used to leave 0 of 264 embedded chunks, issue 12).
A file's chunks are never split over two commits (a half-written file would look complete to the
hash check), so one file larger than a batch is committed alone.

One bad file never fails the folder: a file name that is not valid UTF-8, an unreadable or corrupt
file, a decompression bomb go to ``skipped`` with a reason and the rest is indexed. Stored text and
paths carry no lone surrogates (rag/clean.py).
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

from .chunkers import Chunk, Chunker
from .clean import clean_text, has_surrogates, printable_path
from .index import LanceIndex, chunk_schema
from .loaders import Discovery, LoadError, load_file

#: most chunks embedded and committed together (a crash redoes at most this much work). A LanceDB
#: append measured ~45 ms whether it held 64 or 256 rows (2 busy cores), against seconds to embed
#: 128 chunks of ~200 tokens: ~1 % of the run, and a crash loses at most those seconds of work
BATCH_CHUNKS = 128
Progress = Callable[[dict[str, Any]], None]
#: called after each commit with (report, {path: chunks} of the files that batch committed)
OnCommit = Callable[["IngestReport", dict[str, int]], None]


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
    #: commits (LanceDB appends) this run
    batches: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: the run stopped early on request; what was committed stays
    cancelled: bool = False
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


def _skip(path: object, reason: str) -> dict[str, str]:
    return {"path": printable_path(path), "reason": clean_text(reason)}


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
        batch_chunks: int = BATCH_CHUNKS,
        should_stop: Callable[[], bool] | None = None,
        on_commit: OnCommit | None = None,
        resumed: bool = False,
    ) -> None:
        self.index = index
        self.name = name
        self.embedder = embedder
        self.chunker = chunker
        self.root = root
        self.include_outputs = include_outputs
        self.progress = progress
        self.batch_chunks = max(1, int(batch_chunks))
        self.should_stop = should_stop
        self.on_commit = on_commit
        #: a resumed run refreshes the indexes even when everything was committed before the crash
        self.resumed = resumed
        self.schema = chunk_schema(int(embedder.dim))
        self._rows: list[dict[str, Any]] = []
        self._files: dict[str, int] = {}  # source -> chunks of the files in the pending batch
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
                    "pending": len(self._rows),
                    "embedded": report.embedded,
                    "skipped": list(report.skipped),
                    "rate": report.rate,
                }
            )

    def run(self, discovery: Discovery) -> IngestReport:
        self._started = time.perf_counter()
        report = IngestReport(self.name, files_total=len(discovery.files))
        report.skipped.extend(_skip(s.get("path", ""), s.get("reason", "")) for s in discovery.skipped)
        manifest = self.index.manifest(self.name)
        seen: set[str] = set()
        self._report_progress(report)
        for path in discovery.files:
            if self.should_stop is not None and self.should_stop():
                report.cancelled = True
                break
            key = str(path)
            seen.add(key)
            self._one_file_safely(path, key, manifest, report)
            report.files_done += 1
            if len(self._rows) >= self.batch_chunks:
                self._commit(report)
            self._report_progress(report)
        if not report.cancelled:  # an unfinished walk cannot tell which files are gone
            gone = [p for p in manifest if p not in seen and _under(p, discovery.folders)]
            self._replace.update(gone)
            report.files_deleted = len(gone)
        self._commit(report)
        if report.chunks or self._had_deletes or self.resumed:
            report.indexes = self.index.refresh_indexes(self.name)
        report.seconds = round(time.perf_counter() - self._started, 3)
        self._report_progress(report)
        return report

    def _one_file_safely(self, path: Path, key: str, manifest: dict[str, str], report: IngestReport) -> None:
        """Queue one file's rows; any per-file failure becomes a ``skipped`` entry, never the job's."""
        if has_surrogates(key):
            report.skipped.append(
                _skip(
                    self._source(path),
                    "the file name is not valid UTF-8 (shown with \\x escapes); rename it to index it",
                )
            )
            return
        try:
            rows, source, replaces = self._one_file(path, key, manifest, report)
        except LoadError as exc:
            report.skipped.append(_skip(self._source(path), str(exc)))
            if key in manifest:  # its content is gone or broken: drop the stale chunks
                self._replace.add(key)
            return
        except OSError as exc:
            report.skipped.append(_skip(self._source(path), f"cannot read: {exc.strerror or exc}"))
            return
        except Exception as exc:  # a chunker or parser fault on one odd file must not end the job
            report.skipped.append(_skip(self._source(path), f"{type(exc).__name__}: {exc}"))
            return
        if not rows:
            return
        # whole files per commit: flush first when this file would overflow the batch
        if self._rows and len(self._rows) + len(rows) > self.batch_chunks:
            self._commit(report)
        if replaces:  # its old rows go in the same commit that writes the new ones
            self._replace.add(key)
        self._rows.extend(rows)
        self._files[source] = len(rows)

    def _one_file(
        self, path: Path, key: str, manifest: dict[str, str], report: IngestReport
    ) -> tuple[list[dict[str, Any]], str, bool]:
        file_hash = sha256_file(path)
        previous = manifest.get(key)
        if previous == file_hash:
            report.files_unchanged += 1
            return [], "", False
        doc = load_file(path, include_outputs=self.include_outputs)
        chunks: list[Chunk] = self.chunker.chunk(doc)
        if not chunks:
            raise LoadError("no text to index")
        old_vectors = self.index.vectors_for_path(self.name, key) if previous is not None else {}
        if previous is not None:
            report.files_changed += 1
        else:
            report.files_new += 1
        source = self._source(path)
        path_id = sha256_text(key)[:10]
        rows = []
        for i, chunk in enumerate(chunks):
            text = clean_text(chunk.text)
            chunk_hash = sha256_text(text)
            vector = old_vectors.get(chunk_hash)
            if vector is not None:
                report.chunks_reused += 1
            rows.append(
                {
                    "chunk_id": f"{path_id}-{i:05d}-{chunk_hash[:10]}",
                    "text": text,
                    "vector": vector,
                    "path": key,
                    "source": source,
                    "file_type": doc.file_type,
                    "file_hash": file_hash,
                    "chunk_hash": chunk_hash,
                    "chunk_index": i,
                    "location": clean_text(json.dumps(chunk.location, sort_keys=True, ensure_ascii=False)),
                }
            )
        return rows, source, previous is not None

    def _embed_pending(self, report: IngestReport) -> None:
        todo = [i for i, r in enumerate(self._rows) if r["vector"] is None]
        if not todo:
            return
        vectors = self.embedder.embed([self._rows[i]["text"] for i in todo])
        for i, vec in zip(todo, vectors, strict=True):
            self._rows[i]["vector"] = vec
        report.embedded += len(todo)

    def _commit(self, report: IngestReport) -> None:
        """Embed the pending batch and write it in one append (after deleting replaced rows)."""
        import pyarrow as pa  # here, not at import: see index.py

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
        report.batches += 1
        committed, self._rows, self._files = self._files, [], {}
        if self.on_commit is not None:
            self.on_commit(report, committed)
