"""RAG collections, document ingestion jobs and collection search (503 while RAG is unavailable)."""

from __future__ import annotations

from typing import Any

from tornado import web

from jupyter_chat_ext.errors import InvalidInput, Unavailable

from .base import ChatExtHandler
from .validation import MISSING, opt_str, req_str, str_list


class RagHandler(ChatExtHandler):
    async def rag(self) -> Any:
        core = await self.core()
        if core.rag is None:
            raise Unavailable(core.rag_error or "RAG not available")
        return core.rag


class CollectionsHandler(RagHandler):
    @web.authenticated
    async def get(self) -> None:
        rag = await self.rag()
        self.send_json({"collections": await self.blocking(rag.list_collections)})

    @web.authenticated
    async def post(self) -> None:
        data = self.json_body()
        name = req_str(data, "name", max_len=200)
        embedding_model = opt_str(data, "embedding_model", max_len=500)
        rag = await self.rag()
        kwargs = {} if embedding_model in (MISSING, None) else {"embedding_model": embedding_model}
        created = await self.blocking(lambda: rag.create_collection(name, **kwargs))
        self.send_json(created, status=201)


class CollectionHandler(RagHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        rag = await self.rag()
        self.send_json(await self.blocking(rag.get_collection, name))

    @web.authenticated
    async def delete(self, name: str) -> None:
        rag = await self.rag()
        await self.blocking(rag.delete_collection, name)
        self.send_empty()


class ReindexHandler(RagHandler):
    @web.authenticated
    async def post(self, name: str) -> None:
        rag = await self.rag()
        self.send_json(await self.blocking(rag.reindex, name))


class DocumentsHandler(RagHandler):
    """Start ingesting files of the server's root dir into a collection: 202 + a job to poll."""

    @web.authenticated
    async def post(self, name: str) -> None:
        paths = str_list(self.json_body(), "paths")
        rag = await self.rag()
        root = self.serverapp.root_dir  # paths are relative to the server root, confined there
        job = await self.blocking(lambda: rag.start_ingest(name, paths, root=root))
        self.send_json(job, status=202)


class JobHandler(RagHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        rag = await self.rag()
        self.send_json(await self.blocking(rag.get_job, job_id))


class CollectionSearchHandler(RagHandler):
    @web.authenticated
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
        hits = await self.blocking(lambda: rag.search(name, q, k=k, mode=mode, filters=filters or None))
        self.send_json({"results": hits})


class UploadHandler(RagHandler):
    """Upload one file (the raw body) into a collection: ``POST collections/{name}/upload?filename=``."""

    body_limit_attr = "max_upload_bytes"

    @web.authenticated
    async def post(self, name: str) -> None:
        filename = self.query_str("filename", max_len=255)
        if not filename or not filename.strip():
            raise InvalidInput("query parameter 'filename' is required")
        data = self.request.body or b""
        if not data:
            raise InvalidInput("the request body (the file) is empty")
        rag = await self.rag()
        limit = self.chat_app.max_upload_bytes
        report = await self.blocking(lambda: rag.add_upload(name, filename, data, max_bytes=limit))
        self.send_json(report, status=201)
