"""RAG collections, document ingestion and collection search (503 while RAG is unavailable).

The ingest and upload jobs they start are listed, cancelled and resumed by handlers_jobs.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.wire.jobs import Job
from jupyter_chat_ext.wire.links import links
from jupyter_chat_ext.wire.ops import op
from jupyter_chat_ext.wire.rag import (
    Collection,
    CollectionCreate,
    CollectionList,
    DocumentsRequest,
    SearchAnswer,
    SearchQuery,
    UploadQuery,
)

from .base import READ, WRITE, ChatExtHandler, requires

if TYPE_CHECKING:
    from jupyter_chat_ext.rag.service import RagService

#: what to call with a created collection's name (schemathesis' stateful phase follows them)
COLLECTION_LINKS = links(
    "name",
    "/name",
    GetCollection="getCollection",
    Search="searchCollection",
    Upload="uploadDocument",
    Documents="ingestDocuments",
    Reindex="reindexCollection",
    DeleteCollection="deleteCollection",
)
JOB_LINK = links("job_id", "/id", GetJob="getJob")


class RagHandler(ChatExtHandler):
    async def rag(self) -> RagService:
        return (await self.core()).rag_service()  # 503 rag_unavailable, saying why


class CollectionsHandler(RagHandler):
    @requires(READ)
    @op("Every collection", answer=CollectionList, tag="rag", errors=(503,), operation_id="listCollections")
    async def get(self) -> None:
        rag = await self.rag()
        self.send_json({"collections": await self.blocking(rag.list_collections)})

    @requires(WRITE)
    @op(
        "Create a collection (embedded with the server's embedding model)",
        body=CollectionCreate,
        answer=Collection,
        status=201,
        tag="rag",
        errors=(409, 503, 507),
        links=COLLECTION_LINKS,
        operation_id="createCollection",
    )
    async def post(self, body: CollectionCreate) -> None:
        rag = await self.rag()
        kwargs = {"embedding_model": body.embedding_model} if body.embedding_model is not None else {}
        created = await self.blocking(lambda: rag.create_collection(body.name, **kwargs))
        self.send_json(created, status=201)


class CollectionHandler(RagHandler):
    @requires(READ)
    @op("A collection", answer=Collection, tag="rag", errors=(503,), operation_id="getCollection")
    async def get(self, name: str) -> None:
        rag = await self.rag()
        self.send_json(await self.blocking(rag.get_collection, name))

    @requires(WRITE)
    @op(
        "Delete a collection and its chunks",
        status=204,
        tag="rag",
        errors=(503,),
        operation_id="deleteCollection",
    )
    async def delete(self, name: str) -> None:
        rag = await self.rag()
        await self.blocking(rag.delete_collection, name)
        self.send_empty()


class ReindexHandler(RagHandler):
    @requires(WRITE)
    @op(
        "Re-walk every source of the collection (new and changed files in, deleted ones out)",
        answer=Collection,
        tag="rag",
        errors=(409, 503, 507),
        operation_id="reindexCollection",
    )
    async def post(self, name: str) -> None:
        rag = await self.rag()
        self.send_json(await self.long_call(rag.reindex, name))  # re-walks every source


class DocumentsHandler(RagHandler):
    """Start ingesting files of the server's root dir into a collection: 202 + a job to poll."""

    @requires(WRITE)
    @op(
        "Ingest files of the server's root dir (paths relative to it, confined there) as a job",
        body=DocumentsRequest,
        answer=Job,
        status=202,
        tag="rag",
        errors=(409, 503, 507),
        links=JOB_LINK,
        operation_id="ingestDocuments",
    )
    async def post(self, name: str, body: DocumentsRequest) -> None:
        rag = await self.rag()
        root = self.serverapp.root_dir  # paths are relative to the server root, confined there
        job = await self.blocking(lambda: rag.start_ingest(name, body.paths, root=root))
        self.send_json(job, status=202)


class CollectionSearchHandler(RagHandler):
    @requires(READ)
    @op(
        "The chunks of the collection that best answer q, and what the reranker (rerank_model) added",
        query=SearchQuery,
        answer=SearchAnswer,
        tag="rag",
        errors=(409, 503),
        operation_id="searchCollection",
    )
    async def get(self, name: str, query: SearchQuery) -> None:
        filters = {key: value for key in ("path_glob", "file_type") if (value := getattr(query, key))}
        rag = await self.rag()
        found = await self.blocking(
            lambda: rag.search_detailed(name, query.q, k=query.k, mode=query.mode, filters=filters or None)
        )
        self.send_json(found)


class UploadHandler(RagHandler):
    """Upload one file (the raw body) into a collection: ``POST collections/{name}/upload?filename=``.

    The file is saved (size-checked) in a worker thread and ingested by a background job: 202 + the
    job to poll, instead of holding the request open while it embeds (a 2 MB text took 86 s).
    """

    body_limit_attr = "max_upload_bytes"
    body_to_file = True  # streamed to a temp file as it arrives (base.py), never held in memory

    @requires(WRITE)
    @op(
        "Upload one file (the raw body, application/octet-stream, up to max_upload_bytes) into the"
        " collection; it is ingested by a job",
        query=UploadQuery,
        answer=Job,
        status=202,
        tag="rag",
        errors=(409, 413, 415, 503, 507),
        links=JOB_LINK,
        operation_id="uploadDocument",
    )
    async def post(self, name: str, query: UploadQuery) -> None:
        path = self.body_path()
        if path.stat().st_size == 0:
            raise InvalidInput("the request body (the file) is empty")
        rag = await self.rag()
        limit = self.chat_app.max_upload_bytes
        # the spooled body is copied into the data dir by path, never read into memory whole
        job = await self.long_call(lambda: rag.start_upload(name, query.filename, path, max_bytes=limit))
        self.send_json(job, status=202)
