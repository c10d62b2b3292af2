"""LanceDB storage for RAG collections: one table per collection plus a JSON side file.

The table holds one row per chunk (text, vector, path, source, file type, file and chunk content
hashes, position, location). The side file ``<lance_dir>/_collections/<name>.json`` remembers the
embedding model (id + dimension), the ingested sources and when things happened. What is in the
table is the truth about which files are indexed: the incremental ingest reads (path, file_hash)
from it, so a crash between two writes never leaves a manifest that lies.

Indexes: a native (non-tantivy) full-text index on ``text`` for BM25, created at the first ingest and
kept current with ``optimize()``; an IVF_SQ vector index once a table reaches ``ANN_MIN_ROWS``
(IVF_PQ measured far worse recall here), retrained when the table has grown 4x since.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInput, NotFound

if TYPE_CHECKING:  # pyarrow (~25 MB resident) is imported where a collection is used, so a server
    import pyarrow as pa  # that has no RAG work yet does not hold it (bench/bench_rss.py)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
#: brute force is ~2 ms per 1k rows here; past this size an IVF_SQ index pays for itself
ANN_MIN_ROWS = 5_000
#: retrain the IVF index when the table has grown this much since it was trained
ANN_RETRAIN_GROWTH = 4.0
#: how many IVF partitions a vector query probes, and how many candidates it re-scores exactly
ANN_NPROBES = 32
ANN_REFINE = 4
RESULT_COLUMNS = ["chunk_id", "text", "path", "source", "file_type", "location", "chunk_index"]
#: seconds a table's list of indexes is remembered: asking LanceDB at every query cost two
#: list_indices() calls per hybrid search; another process (a kernel) that builds an index is
#: seen within this long, and this process's own refresh_indexes() forgets the list at once
INDEX_LIST_TTL_S = 5.0


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def validate_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(
            "a collection name is 1-64 characters: letters, digits, '_' or '-', starting with a letter "
            f"or digit (got {name!r})"
        )
    return name


def chunk_schema(dim: int) -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("chunk_id", pa.string()),
            pa.field("text", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dim)),
            pa.field("path", pa.string()),
            pa.field("source", pa.string()),
            pa.field("file_type", pa.string()),
            pa.field("file_hash", pa.string()),
            pa.field("chunk_hash", pa.string()),
            pa.field("chunk_index", pa.int32()),
            pa.field("location", pa.string()),
        ]
    )


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def glob_to_like(pattern: str) -> str:
    out = []
    for ch in pattern:
        if ch in "%_\\":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    like = "".join(out)
    while "%%" in like:
        like = like.replace("%%", "%")
    return like


def build_where(filters: dict[str, Any] | None) -> str | None:
    """``{"path_glob": "docs/*.md", "file_type": "md" | ["md", "py"]}`` -> a SQL filter."""
    if not filters:
        return None
    if not isinstance(filters, dict):
        raise InvalidInput("filters must be an object")
    unknown = set(filters) - {"path_glob", "file_type"}
    if unknown:
        raise InvalidInput(f"unknown filter(s): {', '.join(sorted(unknown))}; use path_glob, file_type")
    clauses = []
    glob = filters.get("path_glob")
    if glob:
        if not isinstance(glob, str) or len(glob) > 500:
            raise InvalidInput("path_glob must be a string of at most 500 characters")
        like = sql_str(glob_to_like(glob))
        clause = f"(source LIKE {like} ESCAPE '\\' OR path LIKE {like} ESCAPE '\\'"
        if not glob.startswith(("/", "*")):  # a relative pattern may match below any folder
            sub = sql_str("%/" + glob_to_like(glob))
            clause += f" OR path LIKE {sub} ESCAPE '\\'"
        clauses.append(clause + ")")
    ftype = filters.get("file_type")
    if ftype:
        types = [ftype] if isinstance(ftype, str) else list(ftype)
        types = [t.lower().lstrip(".") for t in types if isinstance(t, str) and t.strip()]
        if not types or not all(re.fullmatch(r"[a-z0-9_+-]{1,16}", t) for t in types):
            raise InvalidInput("file_type must be an extension like 'md' or a list of them")
        clauses.append("file_type IN (" + ", ".join(sql_str(t) for t in types) + ")")
    return " AND ".join(clauses) if clauses else None


def _dir_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass
    return total


class LanceIndex:
    """All collections in one LanceDB folder; safe to share between threads."""

    def __init__(self, lance_dir: str | Path) -> None:
        self.dir = Path(lance_dir)
        self.meta_dir = self.dir / "_collections"
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._write_locks: dict[str, threading.RLock] = {}
        self._indexed: dict[str, tuple[float, frozenset[tuple[str, ...]]]] = {}

    # -- connection and metadata ---------------------------------------------------------------
    @property
    def db(self) -> Any:
        if self._db is None:
            with self._lock:
                if self._db is None:
                    import lancedb

                    self.dir.mkdir(parents=True, exist_ok=True)
                    self.meta_dir.mkdir(parents=True, exist_ok=True)
                    # another process (a kernel's in-process service) may write too: look for
                    # newer table versions at most once a second
                    self._db = lancedb.connect(str(self.dir), read_consistency_interval=timedelta(seconds=1))
        return self._db

    def write_lock(self, name: str) -> threading.RLock:
        with self._lock:
            return self._write_locks.setdefault(name, threading.RLock())

    def _meta_path(self, name: str) -> Path:
        return self.meta_dir / f"{name}.json"

    def names(self) -> list[str]:
        _ = self.db
        return sorted(p.stem for p in self.meta_dir.glob("*.json") if NAME_RE.match(p.stem))

    def exists(self, name: str) -> bool:
        return self._meta_path(name).exists()

    def read_meta(self, name: str) -> dict[str, Any]:
        _ = self.db
        try:
            return json.loads(self._meta_path(name).read_text())
        except FileNotFoundError:
            raise NotFound(f"no collection named {name!r}") from None

    def write_meta(self, name: str, meta: dict[str, Any]) -> None:
        path = self._meta_path(name)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp, path)

    # -- lifecycle -----------------------------------------------------------------------------
    def create(self, name: str, meta: dict[str, Any]) -> None:
        with self._lock:
            table = self.db.create_table(name, schema=chunk_schema(int(meta["dim"])), mode="overwrite")
            self._tables[name] = table
            self._indexed.pop(name, None)
            self.write_meta(name, meta)

    def drop(self, name: str) -> None:
        with self.write_lock(name), self._lock:  # writer first: an ingest in flight finishes
            self._tables.pop(name, None)
            self._indexed.pop(name, None)
            self.db.drop_table(name, ignore_missing=True)
            self._meta_path(name).unlink(missing_ok=True)

    def table(self, name: str) -> Any:
        table = self._tables.get(name)
        if table is None:
            with self._lock:
                table = self._tables.get(name)
                if table is None:
                    if not self.exists(name):
                        raise NotFound(f"no collection named {name!r}")
                    meta = self.read_meta(name)
                    try:
                        table = self.db.open_table(name)
                    except (FileNotFoundError, ValueError):  # meta without a table: recreate it empty
                        table = self.db.create_table(name, schema=chunk_schema(int(meta["dim"])))
                    self._tables[name] = table
        return table

    def stats(self, name: str) -> dict[str, Any]:
        table = self.table(name)
        chunks = table.count_rows()
        documents = 0
        if chunks:
            paths = table.search().select(["path"]).limit(None).to_arrow()["path"]
            import pyarrow.compute as pc

            documents = len(pc.unique(paths))
        return {
            "documents": documents,
            "chunks": chunks,
            "size_bytes": _dir_size(self.dir / f"{name}.lance"),
        }

    # -- rows ----------------------------------------------------------------------------------
    def manifest(self, name: str) -> dict[str, str]:
        """path -> file_hash of every indexed file."""
        table = self.table(name)
        if table.count_rows() == 0:
            return {}
        arrow = table.search().select(["path", "file_hash"]).limit(None).to_arrow()
        return dict(zip(arrow["path"].to_pylist(), arrow["file_hash"].to_pylist(), strict=True))

    def vectors_for_path(self, name: str, path: str) -> dict[str, np.ndarray]:
        """chunk_hash -> vector of a file's indexed chunks (to reuse them when the file changes)."""
        table = self.table(name)
        arrow = (
            table.search()
            .where(f"path = {sql_str(path)}")
            .select(["chunk_hash", "vector"])
            .limit(None)
            .to_arrow()
        )
        if arrow.num_rows == 0:
            return {}
        vectors = np.asarray(arrow["vector"].combine_chunks().flatten()).reshape(arrow.num_rows, -1)
        return dict(zip(arrow["chunk_hash"].to_pylist(), vectors, strict=True))

    def delete_paths(self, name: str, paths: Sequence[str]) -> None:
        table = self.table(name)
        paths = list(paths)
        for start in range(0, len(paths), 500):
            part = paths[start : start + 500]
            table.delete("path IN (" + ", ".join(sql_str(p) for p in part) + ")")

    def add(self, name: str, rows: pa.Table) -> None:
        if rows.num_rows:
            self.table(name).add(rows)

    # -- indexes -------------------------------------------------------------------------------
    def refresh_indexes(self, name: str) -> dict[str, Any]:
        """Bring the FTS and ANN indexes up to date after writes; returns what was done."""
        table = self.table(name)
        meta = self.read_meta(name)
        rows = table.count_rows()
        done: dict[str, Any] = {"rows": rows}
        if rows == 0:
            return done
        indexed = {tuple(ix.columns): ix for ix in table.list_indices()}
        changed = False
        if ("text",) not in indexed:
            table.create_fts_index("text", use_tantivy=False, replace=True)
            done["fts"] = "created"
            changed = True
        trained = int(meta.get("ann_trained_rows") or 0)
        has_ann = ("vector",) in indexed
        if rows >= ANN_MIN_ROWS and (not has_ann or rows >= trained * ANN_RETRAIN_GROWTH):
            table.create_index(
                metric="cosine", vector_column_name="vector", index_type="IVF_SQ", replace=True
            )
            meta["ann_trained_rows"] = rows
            done["ann"] = "trained"
            changed = True
        # optimize: compacts small fragments and folds new rows into the existing indexes
        table.optimize(cleanup_older_than=timedelta(minutes=1))
        done["optimized"] = True
        self._indexed.pop(name, None)
        if changed:
            meta["indexes_updated_at"] = now_iso()
            self.write_meta(name, meta)
        return done

    def _indexed_columns(self, name: str) -> frozenset[tuple[str, ...]]:
        cached = self._indexed.get(name)
        now = time.monotonic()
        if cached is not None and now - cached[0] < INDEX_LIST_TTL_S:
            return cached[1]
        columns = frozenset(tuple(ix.columns) for ix in self.table(name).list_indices())
        self._indexed[name] = (now, columns)
        return columns

    def has_fts(self, name: str) -> bool:
        return ("text",) in self._indexed_columns(name)

    def has_ann(self, name: str) -> bool:
        return ("vector",) in self._indexed_columns(name)

    # -- search --------------------------------------------------------------------------------
    def vector_search(self, name: str, vector: np.ndarray, k: int, where: str | None) -> list[dict[str, Any]]:
        table = self.table(name)
        query = table.search(np.asarray(vector, dtype=np.float32), vector_column_name="vector")
        query = query.distance_type("cosine")
        if self.has_ann(name):
            query = query.nprobes(ANN_NPROBES).refine_factor(ANN_REFINE)
        if where:
            query = query.where(where, prefilter=True)
        rows = query.select([*RESULT_COLUMNS, "_distance"]).limit(k).to_list()
        for r in rows:
            r["score"] = 1.0 - float(r.pop("_distance"))
        return rows

    def text_search(self, name: str, text: str, k: int, where: str | None) -> list[dict[str, Any]]:
        if not self.has_fts(name):
            return []
        table = self.table(name)
        query = table.search(text, query_type="fts", fts_columns="text")
        if where:
            query = query.where(where, prefilter=True)
        try:
            rows = query.select([*RESULT_COLUMNS, "_score"]).limit(k).to_list()
        except (ValueError, RuntimeError) as exc:
            raise InvalidInput(f"the text query could not be run: {exc}") from exc
        for r in rows:
            r["score"] = float(r.pop("_score"))
        return rows

    def close(self) -> None:
        with self._lock:
            self._tables.clear()
            self._indexed.clear()
            self._db = None
