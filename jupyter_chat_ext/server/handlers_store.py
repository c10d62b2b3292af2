"""Store extras used by the kernel client: read-only SQL over the chat store, the response cache."""

from __future__ import annotations

from jupyter_chat_ext.errors import NotFound
from jupyter_chat_ext.wire.ops import op
from jupyter_chat_ext.wire.store import CacheEntry, CachePut, SqlAnswer, SqlRequest

from .base import EXECUTE, READ, WRITE, ChatExtHandler, requires


class SqlHandler(ChatExtHandler):
    """``POST sql {query, max_rows?}`` -> ``{columns, rows}``; anything that could write is refused."""

    @requires(EXECUTE)
    @op(
        "One read-only statement over the store's tables (no files, network or extensions)",
        body=SqlRequest,
        answer=SqlAnswer,
        tag="store",
        errors=(429, 503),
        operation_id="querySql",
    )
    async def post(self, body: SqlRequest) -> None:
        sql, max_rows = body.query, body.max_rows
        core = await self.core()
        # up to its 30 s timeout, alone on the SQL thread (a second query meanwhile: 429)
        columns, rows = await self.chat_app.pools.run_sql(lambda: core.chat.query(sql, max_rows=max_rows))
        self.send_json({"columns": list(columns), "rows": [list(row) for row in rows]})


class CacheHandler(ChatExtHandler):
    """``GET cache/{key}`` -> ``{key, value}`` (404 when absent); ``PUT cache/{key} {value}`` -> 204."""

    @requires(READ)
    @op(
        "A cached value (404 when absent)",
        answer=CacheEntry,
        tag="store",
        errors=(503,),
        operation_id="getCache",
    )
    async def get(self, key: str) -> None:
        core = await self.core()
        value = await self.blocking(core.chat.cache_get, key)
        if value is None:
            raise NotFound(f"no cached value for {key!r}")
        self.send_json({"key": key, "value": value})

    @requires(WRITE)
    @op("Store a value", body=CachePut, status=204, tag="store", errors=(503, 507), operation_id="putCache")
    async def put(self, key: str, body: CachePut) -> None:
        core = await self.core()
        await self.blocking(core.chat.cache_put, key, body.value)
        self.send_empty()
