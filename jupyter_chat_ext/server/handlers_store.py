"""Store extras used by the kernel client: read-only SQL over the chat store, the response cache."""

from __future__ import annotations

from jupyter_chat_ext.errors import InvalidInput, NotFound

from .base import EXECUTE, READ, WRITE, ChatExtHandler, requires
from .validation import req_str


class SqlHandler(ChatExtHandler):
    """``POST sql {query, max_rows?}`` -> ``{columns, rows}``; anything that could write is refused."""

    @requires(EXECUTE)
    async def post(self) -> None:
        data = self.json_body()
        sql = req_str(data, "query", max_len=100_000)
        max_rows = data.get("max_rows", 10_000)
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 1 <= max_rows <= 100_000:
            raise InvalidInput("'max_rows' must be an integer between 1 and 100000")
        core = await self.core()
        # up to its 30 s timeout, alone on the SQL thread (a second query meanwhile: 429)
        columns, rows = await self.chat_app.pools.run_sql(lambda: core.store.query(sql, max_rows=max_rows))
        self.send_json({"columns": list(columns), "rows": [list(row) for row in rows]})


class CacheHandler(ChatExtHandler):
    """``GET cache/{key}`` -> ``{key, value}`` (404 when absent); ``PUT cache/{key} {value}`` -> 204."""

    @requires(READ)
    async def get(self, key: str) -> None:
        core = await self.core()
        value = await self.blocking(core.store.cache_get, key)
        if value is None:
            raise NotFound(f"no cached value for {key!r}")
        self.send_json({"key": key, "value": value})

    @requires(WRITE)
    async def put(self, key: str) -> None:
        value = self.json_body().get("value")
        if not isinstance(value, dict):
            raise InvalidInput("'value' must be an object")
        core = await self.core()
        await self.blocking(core.store.cache_put, key, value)
        self.send_empty()
