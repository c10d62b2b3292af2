"""The response cache (``response_cache``): JSON values by a string key, replaced on put."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput
from . import values as val
from .database import Database

MAX_CACHE_KEY_CHARS = 1024


def _check_key(key: Any) -> str:
    key = val.check_str(key, "key", allow_none=False, max_chars=MAX_CACHE_KEY_CHARS)
    if not key:
        raise InvalidInput("key must not be empty")
    return key


def cache_get(db: Database, key: str) -> dict[str, Any] | None:
    key = _check_key(key)
    with db.lock:
        row = db.one("SELECT value FROM response_cache WHERE key = ?", [key])
    return val.load(row[0]) if row else None


def cache_put(db: Database, key: str, value: dict[str, Any]) -> None:
    key = _check_key(key)
    value_json = val.dump(value, "value")
    with db.lock, db.tx() as con:
        con.execute("INSERT OR REPLACE INTO response_cache VALUES (?, ?, ?)", [key, value_json, val.now()])
