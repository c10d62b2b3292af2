"""Field checks for JSON bodies: wrong types and out-of-range values become InvalidInput (400)."""

from __future__ import annotations

from typing import Any

from jupyter_chat_ext.errors import InvalidInput, PayloadTooLarge

MISSING = object()


def opt_str(data: dict[str, Any], key: str, *, max_len: int = 100_000, allow_none: bool = True) -> Any:
    """The string at ``key``; MISSING when absent (so PATCH can tell "not given" from null)."""
    if key not in data:
        return MISSING
    value = data[key]
    if value is None and allow_none:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key!r} must be a string")
    if len(value) > max_len:
        raise PayloadTooLarge(f"{key!r} is longer than {max_len} characters")
    return value


def req_str(data: dict[str, Any], key: str, *, max_len: int = 100_000, empty_ok: bool = False) -> str:
    value = opt_str(data, key, max_len=max_len, allow_none=False)
    if value is MISSING:
        raise InvalidInput(f"{key!r} is required")
    if not empty_ok and not value.strip():
        raise InvalidInput(f"{key!r} must not be empty")
    return value


def opt_dict(data: dict[str, Any], key: str) -> Any:
    if key not in data:
        return MISSING
    value = data[key]
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{key!r} must be an object")
    return value


def opt_bool(data: dict[str, Any], key: str) -> Any:
    if key not in data:
        return MISSING
    value = data[key]
    if not isinstance(value, bool):
        raise InvalidInput(f"{key!r} must be true or false")
    return value


def str_list(data: dict[str, Any], key: str, *, max_items: int = 10_000, max_len: int = 4096) -> list[str]:
    value = data.get(key, MISSING)
    if value is MISSING:
        raise InvalidInput(f"{key!r} is required")
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{key!r} must be a list of strings")
    if not value:
        raise InvalidInput(f"{key!r} must not be empty")
    if len(value) > max_items:
        raise PayloadTooLarge(f"{key!r} has more than {max_items} items")
    if any(len(v) > max_len for v in value):
        raise InvalidInput(f"an item of {key!r} is longer than {max_len} characters")
    return value


def or_none(value: Any) -> Any:
    """None for an absent field, the value otherwise."""
    return None if value is MISSING else value


def given(**fields: Any) -> dict[str, Any]:
    """Only the fields that were present in the body."""
    return {k: v for k, v in fields.items() if v is not MISSING}


def rag_spec(value: Any) -> dict[str, Any] | None:
    """``rag`` of a chat request: a collection name or ``{collection, k?, mode?}``."""
    if value is None or value is MISSING:
        return None
    if isinstance(value, str):
        value = {"collection": value}
    if not isinstance(value, dict):
        raise InvalidInput("'rag' must be a collection name or an object {collection, k?, mode?}")
    if not isinstance(value.get("collection"), str) or not value["collection"]:
        raise InvalidInput("'rag.collection' must be a non-empty string")
    k = value.get("k", 4)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
        raise InvalidInput("'rag.k' must be an integer between 1 and 50")
    mode = value.get("mode", "hybrid")
    if mode not in ("hybrid", "vector", "text"):
        raise InvalidInput("'rag.mode' must be one of hybrid, vector, text")
    return {**value, "k": k, "mode": mode}
