"""RAG collections, document ingestion and collection search (503 while RAG is unavailable).

The ingest and upload jobs they start are listed, cancelled and resumed by handlers_jobs.py.
"""

from __future__ import annotations

from typing import Any

from jupyter_chat_ext.errors import InvalidInput, Unavailable

from .base import READ, WRITE, ChatExtHandler, requires
from .validation import MISSING, opt_str, req_str, str_list


class RagHandler(ChatExtHandler):
    async def rag(self) -> Any:
        core = await self.core()
        if core.rag is None:
            raise Unavailable(core.rag_error or "RAG not available")
        return core.rag


class CollectionsHandler(RagHandler):
    @requires(READ)
    async def get(self) -> None:
        rag = await self.rag()
        self.send_json({"collections": await self.blocking(rag.list_collections)})

    @requires(WRITE)
    async def post(self) -> None:
        data = self.json_body()
        name = req_str(data, "name", max_len=200)
        embedding_model = opt_str(data, "embedding_model", max_len=500)
        rag = await self.rag()
        kwargs = {} if embedding_model in (MISSING, None) else {"embedding_model": embedding_model}
        created = await self.blocking(lambda: rag.create_collection(name, **kwargs))
        self.send_json(created, status=201)


class CollectionHandler(RagHandler):
    @requires(READ)
    async def get(self, name: str) -> None:
        rag = await self.rag()
        self.send_json(await self.blocking(rag.get_collection, name))

    @requires(WRITE)
    async def delete(self, name: str) -> None:
        rag = await self.rag()
        await self.blocking(rag.delete_collection, name)
        self.send_empty()


class ReindexHandler(RagHandler):
    @requires(WRITE)
    async def post(self, name: str) -> None:
        rag = await self.rag()
        self.send_json(await self.long_call(rag.reindex, name))  # re-walks every source


class DocumentsHandler(RagHandler):
    """Start ingesting files of the server's root dir into a collection: 202 + a job to poll."""

    @requires(WRITE)
    async def post(self, name: str) -> None:
        paths = str_list(self.json_body(), "paths")
        rag = await self.rag()
        root = self.serverapp.root_dir  # paths are relative to the server root, confined there
        job = await self.blocking(lambda: rag.start_ingest(name, paths, root=root))
        self.send_json(job, status=202)


class CollectionSearchHandler(RagHandler):
    @requires(READ)
    async def get(self, name: str) -> None:
        q = self.query_str("q", max_len=10_000)
        if not q or not q.strip():
            raise InvalidInput("query parameter 'q' is required")
        k = self.query_int("k", 5, lo=1, hi=100)
        mode = self.query_str("mode", "hybrid", max_len=20)
        if mode not in ("hybrid", "vector", "text"):
            raise InvalidInput("mode must be one of hybrid, vector, text")
        filters = {
            key: value for key in ("path_glob", "file_type") if (value := self.query_str(key, max_len=1000))
        }
        rag = await self.rag()
        found = await self.blocking(
            lambda: rag.search_detailed(name, q, k=k, mode=mode, filters=filters or None)
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
    async def post(self, name: str) -> None:
        filename = self.query_str("filename", max_len=255)
        if not filename or not filename.strip():
            raise InvalidInput("query parameter 'filename' is required")
        path = self.body_path()
        if path.stat().st_size == 0:
            raise InvalidInput("the request body (the file) is empty")
        rag = await self.rag()
        limit = self.chat_app.max_upload_bytes
        # the spooled body is copied into the data dir by path, never read into memory whole
        job = await self.long_call(lambda: rag.start_upload(name, filename, path, max_bytes=limit))
        self.send_json(job, status=202)
