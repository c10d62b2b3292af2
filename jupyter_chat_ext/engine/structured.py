"""Structured output and tool calls: what a request asks for, validated once at the engine's door.

``Structured`` carries the three OpenAI fields (``response_format``, ``tools``, ``tool_choice``).
``from_openai`` checks them (a JSON schema must pass jsonschema's meta-schema, a named tool must
exist) so every door refuses bad input with a 400 before a model is touched. ``mode`` and
``output_schema`` say what the local backends constrain the answer to:

- ``json``: the answer is a JSON value matching the schema (``json_object``: any object);
- ``call``: ``tool_choice`` is ``"required"`` or names a function: the whole answer is one
  ``{"name": <tool>, "arguments": <its parameters>}`` object (anyOf over the allowed tools);
- ``auto``: the model answers in text, or writes ``TOOL_MARKER`` and then such an object; the JSON
  grammar switches on at the marker (engine/structured_run.py);
- ``plain``: no constraint (no fields, or ``tool_choice: "none"``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput

#: what the model writes before a tool call in ``auto`` mode: the Hermes/Qwen spelling, which tool
#: templates that know tools already teach; the fallback system block teaches it to the others
TOOL_MARKER = "<tool_call>"
TOOL_END = "</tool_call>"
MAX_TOOLS = 128
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _bad(message: str, code: str = "invalid_value") -> InvalidInput:
    return InvalidInput(message, code=code)


def check_schema(schema: Any, where: str) -> dict[str, Any]:
    """A JSON schema object that passes its meta-schema (400 ``invalid_schema`` otherwise)."""
    import jsonschema

    if not isinstance(schema, dict):
        raise _bad(f"{where} must be a JSON schema object", "invalid_schema")
    try:
        validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as exc:
        path = "/".join(str(p) for p in exc.path)
        raise _bad(
            f"{where} is not a valid JSON schema: {exc.message} (at '{path}')", "invalid_schema"
        ) from None
    return schema


def _check_response_format(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _bad("'response_format' must be an object")
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise _bad("'response_format.type' must be 'text', 'json_object' or 'json_schema'")
    spec = value.get("json_schema")
    if not isinstance(spec, dict):
        raise _bad("'response_format.json_schema' must be an object with a 'schema'")
    name = spec.get("name", "response")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _bad("'response_format.json_schema.name' must be 1-64 letters, digits, _ . or -")
    strict = spec.get("strict", False)
    if strict is not None and not isinstance(strict, bool):
        raise _bad("'response_format.json_schema.strict' must be true or false")
    schema = check_schema(spec.get("schema", {"type": "object"}), "'response_format.json_schema.schema'")
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": bool(strict)}}


def _check_tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _bad("'tools' must be a list")
    if len(value) > MAX_TOOLS:
        raise _bad(f"'tools' has {len(value)} entries; the limit is {MAX_TOOLS}")
    tools, seen = [], set()
    for i, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(fn, dict):
            raise _bad(f"tools[{i}] must be {{'type': 'function', 'function': {{...}}}}")
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise _bad(f"tools[{i}].function.name must be 1-64 letters, digits, _ . or -")
        if name in seen:
            raise _bad(f"tools[{i}].function.name '{name}' is listed twice")
        seen.add(name)
        desc = fn.get("description", "")
        if desc is not None and not isinstance(desc, str):
            raise _bad(f"tools[{i}].function.description must be a string")
        params = fn.get("parameters")
        params = {"type": "object", "properties": {}} if params is None else params
        check_schema(params, f"tools[{i}].function.parameters")
        entry = {"name": name, "description": desc or "", "parameters": params}
        if fn.get("strict") is not None:
            entry["strict"] = bool(fn["strict"])
        tools.append({"type": "function", "function": entry})
    return tools or None


def _check_tool_choice(value: Any, tools: list[dict[str, Any]] | None) -> str | dict[str, Any] | None:
    if value is None:
        return None
    names = [t["function"]["name"] for t in tools or []]
    if isinstance(value, str):
        if value not in ("auto", "none", "required"):
            raise _bad("'tool_choice' must be 'auto', 'none', 'required' or {'type': 'function', ...}")
        if value == "required" and not names:
            raise _bad("'tool_choice' is 'required' but no 'tools' are given", "invalid_tool_choice")
        return value
    fn = value.get("function") if isinstance(value, dict) else None
    if not isinstance(value, dict) or value.get("type") != "function" or not isinstance(fn, dict):
        raise _bad("'tool_choice' must be 'auto', 'none', 'required' or {'type': 'function', ...}")
    name = fn.get("name")
    if name not in names:
        raise _bad(
            f"'tool_choice' names the function {name!r}, which is not in 'tools' "
            f"({', '.join(names) or 'none given'})",
            "invalid_tool_choice",
        )
    return {"type": "function", "function": {"name": name}}


@dataclass
class Structured:
    response_format: dict | None = None  # {"type":"json_object"} | {"type":"json_schema","json_schema":{...}}
    tools: list[dict] | None = (
        None  # OpenAI shape [{"type":"function","function":{name, description, parameters}}]
    )
    tool_choice: str | dict | None = (
        None  # "auto" | "none" | "required" | {"type":"function","function":{"name"}}
    )

    @classmethod
    def from_openai(cls, body: dict) -> Structured | None:
        """The validated fields of an OpenAI chat body, or None when it asks for nothing special."""
        if not isinstance(body, dict):
            raise _bad("the request body must be an object")
        if body.get("functions") or body.get("function_call"):
            raise _bad("'functions' / 'function_call' are the retired API: send 'tools' / 'tool_choice'")
        tools = _check_tools(body.get("tools"))
        choice = _check_tool_choice(body.get("tool_choice"), tools)
        fmt = _check_response_format(body.get("response_format"))
        if fmt is not None and tools and choice != "none":
            raise _bad("'response_format' cannot be combined with 'tools' (send one of them)", "unsupported")
        if fmt is None and not tools:
            return None
        return cls(response_format=fmt, tools=tools, tool_choice=choice)

    # -- what it asks for ------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """plain | json | call | auto (see the module docstring)."""
        if self.tools and self.tool_choice != "none":
            return "auto" if self.tool_choice in (None, "auto") else "call"
        return "json" if self.response_format is not None else "plain"

    def allowed_tools(self) -> list[dict[str, Any]]:
        """The function specs the model may call (one when tool_choice names it)."""
        fns = [t["function"] for t in self.tools or []]
        if isinstance(self.tool_choice, dict):
            return [f for f in fns if f["name"] == self.tool_choice["function"]["name"]]
        return fns

    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer (or, in auto mode, the text after the marker) must match."""
        mode = self.mode
        if mode == "json":
            fmt = self.response_format or {}
            if fmt.get("type") == "json_schema":
                return fmt["json_schema"]["schema"]
            return {"type": "object"}
        if mode in ("call", "auto"):
            return tool_call_schema(self.allowed_tools())
        return None

    def to_openai(self) -> dict[str, Any]:
        """The fields as an OpenAI body carries them (the remote backend passes them through)."""
        out: dict[str, Any] = {}
        if self.response_format is not None:
            out["response_format"] = self.response_format
        if self.tools:
            out["tools"] = self.tools
        if self.tool_choice is not None:
            out["tool_choice"] = self.tool_choice
        return out


def tool_call_schema(functions: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"name": <one tool>, "arguments": <that tool's parameters>}``, anyOf over the tools."""
    options = [
        {
            "type": "object",
            "properties": {"name": {"const": f["name"]}, "arguments": f["parameters"]},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for f in functions
    ]
    return options[0] if len(options) == 1 else {"anyOf": options}


def dumps_compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
