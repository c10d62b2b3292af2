"""RAG collections: create, describe, ingest files of the server root, upload one file, search.

The ingest and upload jobs are ``wire.jobs.Job``. Limits that depend on the index (the query's
4,000 characters, a collection name's spelling) stay in ``rag/service.py``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .base import Answer, Body, Query
from .fields import NonBlank

__all__ = [
    "Collection",
    "CollectionCreate",
    "CollectionList",
    "DocumentsRequest",
    "Hit",
    "SearchAnswer",
    "SearchMode",
    "SearchQuery",
    "UploadQuery",
]

SearchMode = Literal["hybrid", "vector", "text"]


class CollectionCreate(Body):
    """``POST /collections``."""

    name: str = Field(min_length=1, max_length=200, description="letters, digits, _ and -")
    embedding_model: str | None = Field(
        None, max_length=500, description="must be the server's embedding model (the default)"
    )


class Collection(Answer):
    name: str
    documents: int
    chunks: int
    size_bytes: int
    embedding_model: str = Field(description="the model its vectors come from (ingest and search use it)")
    dim: int | None = Field(None, description="the embedding's dimensions")
    created_at: str | None = None
    updated_at: str | None = None
    sources: list[dict[str, Any]] | None = Field(None, description="what was ingested: {path, folder, root}")


class CollectionList(Answer):
    collections: list[Collection]


class DocumentsRequest(Body):
    """``POST /collections/{name}/documents``: files or folders of the server root, confined there."""

    paths: list[Annotated[str, Field(max_length=4096)]] = Field(
        min_length=1,
        max_length=10_000,
        description="paths relative to the server's root dir (folders are walked, .gitignore respected)",
    )


class SearchQuery(Query):
    q: str = Field(min_length=1, max_length=10_000, description="the question or words to find")
    k: int = Field(5, ge=1, le=100, description="how many chunks")
    mode: SearchMode = Field("hybrid", description="hybrid (vector + BM25, fused), vector or text")
    path_glob: str | None = Field(
        None, max_length=1000, description="only chunks of paths matching this glob"
    )
    file_type: str | None = Field(
        None, max_length=1000, description="only chunks of this file type (txt, md, pdf ...)"
    )


class Hit(Answer):
    text: str
    score: float
    source: str | None = None
    path: str | None = None
    location: dict[str, Any] | None = Field(None, description="where in the file: page, cell, lines")
    chunk_id: Any = None
    file_type: str | None = None


class SearchAnswer(Answer):
    results: list[Hit] = Field(description="the best chunks, best first")
    reranker: str | None = Field(
        None, description="the reranker that ordered the results, null when none is set"
    )
    rerank_ms: float | None = Field(None, description="milliseconds the reranker added, null when none ran")
    rerank_error: str | None = Field(
        None, description="why the reranker did not run (the fused order is returned)"
    )


class UploadQuery(Query):
    """``POST /collections/{name}/upload?filename=``: the body is the file's raw bytes
    (application/octet-stream, up to ``max_upload_bytes``, spooled to disk as it arrives)."""

    filename: NonBlank = Field(
        min_length=1, max_length=255, description="the file's name (its type by extension)"
    )
