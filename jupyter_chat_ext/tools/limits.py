"""The limits every tool call passes through, whatever runs it: arguments checked against the
tool's JSON schema (jsonschema, the reference implementation: it picks the draft the schema
declares, 2020-12 by default as MCP asks), results cut to a size the model's context can hold.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .spec import ToolResult

#: shown to the model after a cut result, so it knows text is missing and how much
TRUNCATION_NOTE = "\n\n[tool result truncated: showing {shown:,} of {total:,} characters]"


def _validator_class(schema: dict[str, Any]) -> Any:
    from jsonschema.validators import Draft202012Validator, validator_for

    return validator_for(schema, default=Draft202012Validator)


def schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a usable JSON schema for tool arguments, or None when it is."""
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        return "the parameters schema must be a JSON object"
    try:
        _validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        return f"invalid JSON schema: {exc.message}"
    if schema.get("type", "object") != "object":
        return "the parameters schema must describe an object"
    return None


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Any:
    import json

    schema = json.loads(schema_json)
    return _validator_class(schema)(schema)


def argument_errors(schema: dict[str, Any], arguments: Any, *, limit: int = 5) -> list[str]:
    """Readable reasons why ``arguments`` do not match ``schema`` (empty when they do)."""
    import json

    if not isinstance(arguments, dict):
        return [f"arguments must be a JSON object, not {type(arguments).__name__}"]
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    out = []
    for err in errors[:limit]:
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{where}: {err.message}" if where else err.message)
    return out


def truncate(content: str, max_chars: int) -> tuple[str, bool]:
    """``content`` cut to ``max_chars`` (plus a note saying so) and whether it was cut."""
    if max_chars <= 0 or len(content) <= max_chars:
        return content, False
    return content[:max_chars] + TRUNCATION_NOTE.format(shown=max_chars, total=len(content)), True


def limited(result: ToolResult, max_chars: int) -> ToolResult:
    """``result`` within the limit; one its tool already cut (with its own note) stays as it is."""
    if result.truncated:
        return result
    text, cut = truncate(result.content, max_chars)
    return ToolResult(content=text, is_error=result.is_error, truncated=cut or result.truncated)
