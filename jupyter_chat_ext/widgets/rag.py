"""RagPanel: collections, ingest with progress, search results with their sources."""

from __future__ import annotations

from typing import Any

import traitlets

from ..errors import InvalidInput
from ..kernel.client import ChatClient
from .base import ClientWidget
from .esm import build_esm


def _hit_view(h: dict[str, Any]) -> dict[str, Any]:
    loc = h.get("location") or {}
    where = ", ".join(f"{k} {v}" for k, v in loc.items()) if isinstance(loc, dict) else str(loc)
    return {
        "text": h.get("text") or "",
        "source": h.get("source") or "",
        "location": where,
        "score": float(h.get("score") or 0.0),
    }


class RagPanel(ClientWidget):
    """Pick a collection, ingest files into it (progress bar), search it (hits with sources)."""

    _esm = build_esm("rag.js")

    collections = traitlets.List(traitlets.Dict()).tag(sync=True)
    collection = traitlets.Unicode("").tag(sync=True)
    #: the ingest job under way or last finished ({} when none)
    job = traitlets.Dict().tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)
    results = traitlets.List(traitlets.Dict()).tag(sync=True)

    def __init__(
        self, client: ChatClient | None = None, collection: str = "", *, poll_s: float = 0.25, **kwargs: Any
    ) -> None:
        super().__init__(client=client, collection=collection, **kwargs)
        self._poll_s = poll_s
        self._guard(self.refresh)

    def refresh(self) -> None:
        self.collections = [
            {k: c.get(k) for k in ("name", "documents", "chunks", "size_bytes")}
            for c in self.client.list_collections()
        ]
        if not self.collection and self.collections:
            self.collection = self.collections[0]["name"]

    def ingest(
        self, collection: str, paths: list[str], wait: bool = False, timeout: float | None = None
    ) -> None:
        """Ingest files/folders into ``collection`` (created when missing) on a worker thread."""
        collection = collection.strip()
        paths = [p.strip() for p in paths if p and p.strip()]
        if not collection or not paths:
            raise InvalidInput("ingest needs a collection name and at least one path")

        def work() -> None:
            self.collection = collection
            self.job = {"state": "queued", "collection": collection, "files_done": 0, "files_total": 0}

            def progress(fraction: float, job: dict[str, Any]) -> None:
                self.job = {**job, "fraction": fraction}

            try:
                job = self.client.ingest(collection, paths, progress=progress, poll_s=self._poll_s)
                self.job = {**job, "fraction": 1.0}
            finally:
                self.refresh()

        self._start(work)
        if wait:
            self.wait(timeout)

    def search(self, query: str, collection: str | None = None, k: int = 5) -> list[dict[str, Any]]:
        """Search a collection; the hits are shown (text + source + score) and returned."""
        name = (collection or self.collection).strip()
        if not name or not query.strip():
            raise InvalidInput("search needs a collection and a query")
        self.error = ""
        self.collection, self.query = name, query
        self.results = [_hit_view(h) for h in self.client.search(name, query, k=k)]
        return list(self.results)

    def on_ingest(self, content: dict[str, Any]) -> None:
        raw = content.get("paths", [])
        paths = raw.splitlines() if isinstance(raw, str) else [str(p) for p in raw]
        self.ingest(str(content.get("collection", "")), paths)

    def on_search(self, content: dict[str, Any]) -> None:
        self.search(
            str(content.get("query", "")),
            str(content.get("collection", "")) or None,
            int(content.get("k", 5)),
        )

    def on_refresh(self, content: dict[str, Any]) -> None:
        self.refresh()
