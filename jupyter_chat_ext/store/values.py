"""Checks and conversions for values entering and leaving the store (typed errors on bad input).

Timestamps are stored as naive UTC ``TIMESTAMP`` values and handed out as ISO-8601 strings with
``+00:00``; maps are stored as JSON text.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ..errors import InvalidInput, NotFound
from . import schema

MAX_TITLE_CHARS = 1000
#: params/metadata/cache values: nesting depth and serialised size (a 500-deep params object once
#: made every later read of its session fail)
MAX_JSON_DEPTH = 32
MAX_JSON_CHARS = 1_000_000
#: token counts are stored as INTEGER (messages.tokens); sums as BIGINT
MAX_TOKENS = 2**31 - 1
MAX_BIGINT = 2**63 - 1


def now() -> datetime:
    """UTC now, naive (DuckDB TIMESTAMP); every dict hands it out as ISO-8601 with +00:00."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc).isoformat(timespec="microseconds")


def naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def check_utf8(value: str, name: str) -> str:
    """``value`` itself, or InvalidInput when it holds a lone surrogate (not valid UTF-8: DuckDB
    refuses it with an internal error, so it must never reach a write)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{name} is not valid UTF-8: a lone surrogate {value[exc.start]!r} at character {exc.start}"
        ) from exc
    return value


def check_json_tree(value: Any, name: str, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk a JSON-like value without recursion (a 50k-deep document cannot blow the stack): depth,
    string keys, valid UTF-8 everywhere. InvalidInput names the offending path."""
    stack: list[tuple[Any, int, str]] = [(value, 1, name)]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, str):
            check_utf8(node, path)
        elif isinstance(node, (dict, list, tuple)):
            if depth > max_depth:
                raise InvalidInput(f"{name} is nested deeper than {max_depth} levels (at {path})")
            if isinstance(node, dict):
                for key, item in node.items():
                    if not isinstance(key, str):
                        raise InvalidInput(f"{path} has a key that is not a string: {key!r}")
                    check_utf8(key, f"{path} key")
                    stack.append((item, depth + 1, f"{path}.{key}"))
            else:
                stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(node))


def dump(value: Any, name: str, *, max_chars: int = MAX_JSON_CHARS) -> str:
    """A JSON object checked (depth, UTF-8, finite numbers, size) and serialised for a JSON column."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{name} must be an object (dict)")
    check_json_tree(value, name)
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} is not JSON-serialisable: {exc}") from exc
    if len(text) > max_chars:
        raise InvalidInput(f"{name} is {len(text)} characters as JSON; the limit is {max_chars}")
    return text


def load(value: str | None) -> dict[str, Any]:
    return json.loads(value) if value else {}


def check_str(value: Any, name: str, *, allow_none: bool = True, max_chars: int | None = None) -> Any:
    if value is None:
        if allow_none:
            return None
        raise InvalidInput(f"{name} is required")
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    if max_chars is not None and len(value) > max_chars:
        raise InvalidInput(f"{name} is longer than {max_chars} characters")
    return check_utf8(value, name)


def check_title(value: Any) -> str | None:
    value = check_str(value, "title", max_chars=MAX_TITLE_CHARS)
    if value is not None:
        value = value.strip()
        if not value:
            raise InvalidInput("title must not be empty (use null for an untitled session)")
    return value


def check_name(value: Any, name: str) -> str | None:
    value = check_str(value, name, max_chars=500)
    if value is not None and not value.strip():
        raise InvalidInput(f"{name} must not be empty")
    return value


def check_int(value: Any, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An int (not bool) in [minimum, maximum]; without a maximum, within DuckDB's BIGINT."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    if value < minimum or value > (MAX_BIGINT if maximum is None else maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidInput(f"{name} must be {bound}")
    return value


def check_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e300:
        raise InvalidInput(f"{name} must be a finite non-negative number")
    return float(value)


def check_tokens(value: Any, name: str = "tokens") -> int | None:
    """A token count: None (unknown) or 0 <= n < 2**31 (the INTEGER column's range)."""
    if value is None:
        return None
    return check_int(value, name, maximum=MAX_TOKENS)


METRIC_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "ttft_s",
    "tokens_per_s",
    "total_s",
    "model",
    "device",
    "finish_reason",
)


def check_metrics(metrics: Any) -> list[Any]:
    """A metrics dict checked and flattened in METRIC_FIELDS order (token counts required)."""
    if not isinstance(metrics, dict):
        raise InvalidInput("metrics must be an object")
    return [
        check_int(metrics.get("prompt_tokens"), "prompt_tokens", maximum=MAX_TOKENS),
        check_int(metrics.get("completion_tokens"), "completion_tokens", maximum=MAX_TOKENS),
        check_float(metrics.get("ttft_s"), "ttft_s"),
        check_float(metrics.get("tokens_per_s"), "tokens_per_s"),
        check_float(metrics.get("total_s"), "total_s"),
        check_str(metrics.get("model"), "metrics.model", max_chars=500),
        check_str(metrics.get("device"), "metrics.device", max_chars=500),
        check_str(metrics.get("finish_reason"), "finish_reason", max_chars=100),
    ]


def check_role(role: Any) -> str:
    if role not in schema.ROLES:
        raise InvalidInput(f"role must be one of {', '.join(schema.ROLES)}, got {role!r}")
    return role


#: ids of tool calls (``call_<hex>`` from our engine; remote endpoints have their own shapes)
MAX_CALL_ID_CHARS = 200
APPROVALS = ("auto", "approved", "always", "denied", "timeout")


def _call_id(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_CALL_ID_CHARS:
        raise InvalidInput(f"{name} must be a non-empty string of at most {MAX_CALL_ID_CHARS} characters")
    return check_utf8(value, name)


def check_tool_metadata(role: str, metadata: Any, name: str = "metadata") -> None:
    """The agent's links inside a row's metadata (schema v4), so the prompt history built from
    stored rows is always a valid OpenAI conversation: a tool row names its call
    (``tool_call_id``, ``name``); an assistant row's ``tool_calls`` are OpenAI function calls
    whose ``arguments`` are text. Other roles and keys are not looked at."""
    if role == "tool" and metadata is None:
        metadata = {}  # a tool row without metadata names no call: refused below
    if not isinstance(metadata, dict):
        return
    if role == "tool":
        _call_id(metadata.get("tool_call_id"), f"{name}.tool_call_id")
        check_str(metadata.get("name"), f"{name}.name", allow_none=False, max_chars=500)
        approval = metadata.get("approval")
        if approval is not None and approval not in APPROVALS:
            raise InvalidInput(f"{name}.approval must be one of {', '.join(APPROVALS)}, got {approval!r}")
    elif role == "assistant" and metadata.get("tool_calls") is not None:
        calls = metadata["tool_calls"]
        if not isinstance(calls, list):
            raise InvalidInput(f"{name}.tool_calls must be a list")
        for i, call in enumerate(calls):
            where = f"{name}.tool_calls[{i}]"
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or call.get("type", "function") != "function":
                raise InvalidInput(f"{where} must be {{id, type: 'function', function: {{name, arguments}}}}")
            _call_id(call.get("id"), f"{where}.id")
            check_str(fn.get("name"), f"{where}.function.name", allow_none=False, max_chars=500)
            check_str(fn.get("arguments"), f"{where}.function.arguments", allow_none=False)


def check_status(status: Any) -> str:
    if status not in schema.STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(schema.STATUSES)}, got {status!r}")
    return status


def check_session_id(session_id: Any) -> str:
    if not isinstance(session_id, str) or not session_id or len(session_id) > 200:
        raise NotFound(f"no session {session_id!r}")
    try:
        session_id.encode("utf-8")
    except UnicodeEncodeError:
        raise NotFound(f"no session {session_id!r}") from None
    return session_id


def check_message_id(message_id: Any) -> int:
    if isinstance(message_id, bool) or not isinstance(message_id, int) or not 0 <= message_id < 2**63:
        raise NotFound(f"no message {message_id!r}")
    return message_id


def parse_timestamp(value: Any, name: str) -> datetime | None:
    """An ISO-8601 string (or None) as a naive UTC datetime; InvalidInput when it does not parse or
    falls outside years 1-9999 once moved to UTC (``9999-12-31T23:59:59-14:00`` is year 10000)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidInput(f"{name} must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return naive_utc(parsed)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(f"{name} is not an ISO-8601 timestamp in years 1-9999 UTC: {value!r}") from exc
