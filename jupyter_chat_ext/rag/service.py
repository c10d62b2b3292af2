"""RagService: collections, ingest (sync or as a background job) and search, over LanceDB.

The contract is in docs/architecture.md. A collection remembers the embedding model it was built
with; ingest and search through a different embedder are refused (Conflict) because vectors from
two models are not comparable.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import Conflict, InvalidInput, ModelError, NotFound, Unavailable
from ..jobs import JobRunner
from .chunkers import Chunker
from .context import format_context
from .fusion import linear_fuse, minmax_fuse, rrf_fuse, vector_weight_for
from .index import LanceIndex, build_where, now_iso, validate_name
from .ingest import BATCH_CHUNKS, Ingestor, IngestReport, OnCommit
from .loaders import discover
from .rerank import RERANK_CANDIDATES, Reranker, make_reranker
from .service_jobs import LANE, JobsMixin

MODES = ("hybrid", "vector", "text")
#: hybrid fusion: "minmax" (convex combination of min-max scaled scores: the default, see
#: rag/fusion.py for the figures), "linear" (raw cosine + BM25 / max, the former default) or "rrf"
FUSIONS = ("minmax", "linear", "rrf")
MAX_K = 100
MAX_QUERY_CHARS = 4000
#: each retriever of a hybrid query returns this many times k candidates for the fusion
HYBRID_DEPTH = 4

__all__ = ["IngestReport", "RagService", "format_context"]


class RagService(JobsMixin):
    def __init__(
        self,
        settings: Any,
        embedder: Any,
        *,
        reranker: Reranker | None = None,
        chunk_tokens: int = 200,
        overlap_tokens: int = 32,
        fusion: str = "minmax",
        batch_chunks: int = BATCH_CHUNKS,
        auto_resume: bool = False,
        jobs: JobRunner | None = None,
    ) -> None:
        """``batch_chunks``: chunks per ingest commit (what a crash can lose). ``auto_resume``: restart
        jobs a crash left interrupted right away (off by default: a job that crashed the process
        would crash it again at every start; the job list offers ``resume`` instead). ``jobs``: the
        Core's job runner (shared with model pulls); without one the service keeps its own."""
        if fusion not in FUSIONS:
            raise InvalidInput(f"fusion must be one of {', '.join(FUSIONS)}")
        self.fusion = fusion
        self.settings = settings
        self.embedder = embedder
        #: a reranker given here wins over ``settings.rerank_model`` (tests, benches)
        self.reranker = reranker
        self._rerank_spec: str | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._rerank_made: Reranker | None = None
        self._rerank_spec_error: str | None = None
        self.index = LanceIndex(settings.lance_dir)
        budget = min(chunk_tokens, int(getattr(embedder, "max_tokens", 256)) - 16)
        self.chunker = Chunker(
            getattr(embedder, "count_tokens_batch", None), max_tokens=budget, overlap_tokens=overlap_tokens
        )
        self.batch_chunks = int(batch_chunks)
        self._closed = False
        self._lock = threading.Lock()
        self._owns_jobs = jobs is None
        self.jobs = JobRunner(Path(settings.data_dir) / "jobs") if jobs is None else jobs
        self._register_jobs(self.jobs, auto_resume)

    format_context = staticmethod(format_context)

    # -- collections ---------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("the retrieval service is closed")

    def _describe(self, name: str) -> dict[str, Any]:
        meta = self.index.read_meta(name)
        stats = self.index.stats(name)
        return {
            "name": name,
            "documents": stats["documents"],
            "chunks": stats["chunks"],
            "size_bytes": stats["size_bytes"],
            "embedding_model": meta["embedding_model"],
            "dim": meta.get("dim"),
            "created_at": meta.get("created_at"),
            "updated_at": meta.get("updated_at"),
            "sources": meta.get("sources", []),
        }

    def list_collections(self) -> list[dict[str, Any]]:
        self._check_open()
        return [self._describe(n) for n in self.index.names()]

    def create_collection(self, name: str, embedding_model: str | None = None) -> dict[str, Any]:
        self._check_open()
        validate_name(name)
        model_id = self.embedder.model_id
        if embedding_model is not None and embedding_model != model_id:
            raise InvalidInput(
                f"embedding model {embedding_model!r} is not available here; collections are embedded "
                f"with {model_id!r}"
            )
        with self._lock:
            if self.index.exists(name):
                raise Conflict(f"a collection named {name!r} already exists")
            now = now_iso()
            self.index.create(
                name,
                {
                    "name": name,
                    "embedding_model": model_id,
                    "dim": int(self.embedder.dim),
                    "created_at": now,
                    "updated_at": now,
                    "sources": [],
                    "chunker": {
                        "max_tokens": self.chunker.max_tokens,
                        "overlap": self.chunker.overlap_tokens,
                    },
                },
            )
        return self._describe(name)

    def get_collection(self, name: str) -> dict[str, Any]:
        self._check_open()
        validate_name(name)
        return self._describe(name)

    def delete_collection(self, name: str) -> None:
        self._check_open()
        validate_name(name)
        if not self.index.exists(name):
            raise NotFound(f"no collection named {name!r}")
        self.index.drop(name)

    def _check_model(self, name: str) -> dict[str, Any]:
        meta = self.index.read_meta(name)
        if meta.get("embedding_model") != self.embedder.model_id or int(meta.get("dim", 0)) != int(
            self.embedder.dim
        ):
            raise Conflict(
                f"collection {name!r} was embedded with {meta.get('embedding_model')!r} "
                f"({meta.get('dim')}-d) but this service embeds with {self.embedder.model_id!r} "
                f"({self.embedder.dim}-d); re-create the collection to switch models",
                code="embedding_model_mismatch",
            )
        return meta

    # -- ingest --------------------------------------------------------------------------------
    def ingest(
        self,
        name: str,
        paths: Sequence[str | os.PathLike[str]],
        *,
        root: str | os.PathLike[str] | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        exclude: Sequence[str] = (),
        include_outputs: bool = False,
        should_stop: Callable[[], bool] | None = None,
        on_commit: OnCommit | None = None,
        resumed: bool = False,
    ) -> IngestReport:
        """Add files/folders to a collection (incremental, committed batch by batch); blocks until
        done, or until ``should_stop()`` turns true (then ``report.cancelled``)."""
        self._check_open()
        validate_name(name)
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        if not isinstance(paths, (list, tuple)) or not paths:
            raise InvalidInput("paths must be a non-empty list of files or folders")
        if exclude and (isinstance(exclude, str) or not all(isinstance(e, str) for e in exclude)):
            raise InvalidInput("exclude must be a list of gitignore-style patterns")
        self._check_model(name)
        # hidden paths: 404 unless Jupyter's ContentsManager.allow_hidden (Settings.allow_hidden)
        discovery = discover(
            paths, root=root, exclude=exclude, allow_hidden=getattr(self.settings, "allow_hidden", False)
        )
        root_path = Path(root).resolve() if root is not None else None
        with self.index.write_lock(name):
            ingestor = Ingestor(
                self.index,
                name,
                self.embedder,
                self.chunker,
                root=root_path,
                include_outputs=include_outputs,
                progress=progress,
                batch_chunks=self.batch_chunks,
                should_stop=should_stop,
                on_commit=on_commit,
                resumed=resumed,
            )
            report = ingestor.run(discovery)
            meta = self.index.read_meta(name)
            sources = meta.get("sources", [])
            for item in [*discovery.folders, *discovery.files]:
                if not any(Path(item).is_relative_to(Path(s["path"])) for s in sources if s.get("folder")):
                    entry = {"path": str(item), "folder": Path(item).is_dir(), "root": str(root_path or "")}
                    if entry["path"] not in {s["path"] for s in sources}:
                        sources.append(entry)
            meta.update(
                sources=sources,
                updated_at=now_iso(),
                exclude=sorted(set(meta.get("exclude", [])) | set(exclude)),
                last_ingest={k: v for k, v in report.to_dict().items() if k != "skipped"},
            )
            self.index.write_meta(name, meta)
        return report

    def reindex(self, name: str) -> dict[str, Any]:
        """Re-walk every recorded source (changed files update, vanished ones drop out), refresh
        the indexes; vectors of unchanged text are kept."""
        self._check_open()
        validate_name(name)
        meta = self._check_model(name)
        sources = meta.get("sources", [])
        existing = [s for s in sources if Path(s["path"]).exists()]
        vanished = [s for s in sources if not Path(s["path"]).exists()]
        with self.index.write_lock(name):
            if vanished:
                gone = []
                for path in self.index.manifest(name):
                    for s in vanished:
                        if path == s["path"] or Path(path).is_relative_to(s["path"]):
                            gone.append(path)
                            break
                self.index.delete_paths(name, gone)
                meta["sources"] = existing
                self.index.write_meta(name, meta)
        for s in existing:
            self.ingest(name, [s["path"]], root=s.get("root") or None, exclude=meta.get("exclude", []))
        with self.index.write_lock(name):
            self.index.refresh_indexes(name)
        return self._describe(name)

    # -- search --------------------------------------------------------------------------------
    def search(
        self,
        name: str,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        filters: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The best ``k`` hits (see ``search_detailed`` for the reranker's part)."""
        return self.search_detailed(name, query, k=k, mode=mode, filters=filters)["results"]

    def search_detailed(
        self,
        name: str,
        query: str,
        k: int = 5,
        mode: str = "hybrid",
        filters: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``{"results", "reranker", "rerank_ms"[, "rerank_error"]}``: the hits, and what reranking
        the first ``RERANK_CANDIDATES`` fused hits cost (None when no reranker is set)."""
        self._check_open()
        validate_name(name)
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("the query must be a non-empty string")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidInput(f"the query is longer than {MAX_QUERY_CHARS} characters")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidInput(f"k must be an integer from 1 to {MAX_K}")
        if mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}")
        where = build_where(filters)
        self._check_model(name)
        reranker, rerank_error = self._reranker()
        depth = k * HYBRID_DEPTH if (mode == "hybrid" or reranker is not None) else k
        if reranker is not None:
            depth = max(depth, RERANK_CANDIDATES)
        if mode == "vector":
            hits = self._vector(name, query, depth, where)
        elif mode == "text":
            hits = self.index.text_search(name, query, depth, where)
        else:
            # BM25 needs no query vector: it runs while the query is embedded (the longer part)
            text_future = self._search_pool().submit(self.index.text_search, name, query, depth, where)
            vec_hits = self._vector(name, query, depth, where)
            text_hits = text_future.result()
            if self.fusion == "rrf":
                hits = rrf_fuse([vec_hits, text_hits], names=["vector", "text"])
            elif self.fusion == "linear":
                hits = linear_fuse(vec_hits, text_hits)
            else:
                hits = minmax_fuse(vec_hits, text_hits, vector_weight=vector_weight_for(query))
        out: dict[str, Any] = {"reranker": getattr(reranker, "name", None), "rerank_ms": None}
        if reranker is not None and hits:
            head, tail = hits[: max(k, RERANK_CANDIDATES)], hits[max(k, RERANK_CANDIDATES) :]
            t0 = time.perf_counter()
            try:
                hits = reranker.rerank(query, head) + tail
            except (Unavailable, ModelError, InvalidInput) as exc:  # the fused order still answers
                rerank_error = exc.message
            out["rerank_ms"] = round((time.perf_counter() - t0) * 1000, 1)
        if rerank_error:
            out["rerank_error"] = rerank_error
        out["results"] = [self._hit(h) for h in hits[:k]]
        return out

    def _search_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rag-text-search")
        return self._pool

    def _reranker(self) -> tuple[Reranker | None, str | None]:
        """The reranker given to the service, else the one ``settings.rerank_model`` names (read at
        each search, so a change of the setting at run time applies to the next query)."""
        if self.reranker is not None:
            return self.reranker, None
        spec = getattr(self.settings, "rerank_model", None)
        if not spec:
            return None, None
        with self._lock:
            if self._rerank_spec != spec:
                try:
                    self._rerank_made, self._rerank_spec_error = make_reranker(spec, self.settings), None
                except InvalidInput as exc:
                    self._rerank_made, self._rerank_spec_error = None, exc.message
                self._rerank_spec = spec
            return self._rerank_made, self._rerank_spec_error

    def _vector(self, name: str, query: str, k: int, where: str | None) -> list[dict[str, Any]]:
        vector = self.embedder.embed([query])[0]
        return self.index.vector_search(name, vector, k, where)

    @staticmethod
    def _hit(row: dict[str, Any]) -> dict[str, Any]:
        location = row.get("location")
        if isinstance(location, str):
            try:
                location = json.loads(location)
            except ValueError:
                location = {}
        hit = {
            "text": row["text"],
            "source": row["source"],
            "location": location or {},
            "score": round(float(row["score"]), 6),
            "chunk_id": row["chunk_id"],
            "file_type": row["file_type"],
            "path": row["path"],
        }
        if "scores" in row:
            hit["scores"] = row["scores"]
        return hit

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        closer = getattr(self._rerank_made, "close", None)
        if closer is not None:
            closer()
        # a shared runner goes on with other kinds (pulls); only the ingest lane stops here
        self.jobs.close(wait=True, lanes=None if self._owns_jobs else (LANE,))
        self.index.close()
