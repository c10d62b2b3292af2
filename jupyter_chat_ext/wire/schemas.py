"""The schemas of the OpenAPI document: every type the operations name, described by pydantic.

They are turned into JSON Schema together (``TypeAdapter.json_schemas``), so a model named by two
operations, or nested in another, is one component; requests are described in "validation" mode
(what the door accepts), answers and events in "serialization" mode (what the server sends).
"""

from __future__ import annotations

import copy
import re
import sys
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode

__all__ = ["REF", "Components", "drop_null", "tidy"]

REF = "#/components/schemas/{model}"


class _Schemas(GenerateJsonSchema):
    """pydantic's generator without a title on every property (noise in the document and the TS)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


@dataclass
class Components:
    """The types the operations name, turned into schemas together (shared ``$defs``)."""

    wanted: list[tuple[Any, JsonSchemaMode]] = field(default_factory=list)
    schemas: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    defs: dict[str, Any] = field(default_factory=dict)

    def want(self, kind: Any, mode: JsonSchemaMode) -> None:
        if kind is not None and not any(k is kind and m == mode for k, m in self.wanted):
            self.wanted.append((kind, mode))

    def build(self) -> None:
        inputs = [(i, mode, TypeAdapter(kind)) for i, (kind, mode) in enumerate(self.wanted)]
        if not inputs:
            return
        refs, top = TypeAdapter.json_schemas(
            inputs, ref_template=REF, union_format="primitive_type_array", schema_generator=_Schemas
        )
        defs = top.get("$defs", {})
        renames = _short_names(defs)
        self.defs = {renames.get(name, name): _renamed(d, renames) for name, d in defs.items()}
        for (i, mode), schema in refs.items():
            kind = self.wanted[i][0]
            self.schemas[(id(kind), mode)] = self._named(kind, _renamed(schema, renames))

    def _named(self, kind: Any, schema: dict[str, Any]) -> dict[str, Any]:
        """A union with a name (a title, or a wire module's alias) becomes a component of that name.

        ``TurnEvent = Annotated[StartEvent | ..., Field(discriminator="type")]`` has no name at
        run time; its name in the module is what a reader (and the TypeScript) should see.
        """
        if "$ref" in schema or schema.get("type") not in (None, "object"):
            return schema
        title = schema.get("title") or _alias_name(kind)
        if not title or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", title):
            return schema
        self.defs.setdefault(title, schema)
        return {"$ref": REF.format(model=title)}

    def ref(self, kind: Any, mode: JsonSchemaMode) -> dict[str, Any]:
        return copy.deepcopy(self.schemas[(id(kind), mode)])

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        ref = schema.get("$ref", "")
        return self.defs[ref.rsplit("/", 1)[-1]] if ref.startswith("#/components/schemas/") else schema


def _short_names(defs: dict[str, Any]) -> dict[str, str]:
    """Names for the ones pydantic qualified with their module (two ``Choice`` classes of openai).

    ``openai__types__chat__chat_completion_chunk__Choice`` -> ``ChatCompletionChunkChoice``: the
    module's last part and the class, which is what a TypeScript reader can use.
    """
    out = {}
    for name in defs:
        if "__" in name:
            *module, cls = name.split("__")
            short = "".join(part.title() for part in module[-1].split("_")) + cls
            if short not in defs and short not in out.values():
                out[name] = short
    return out


def _renamed(value: Any, renames: dict[str, str]) -> Any:
    """``value`` with its ``$ref``s (and a discriminator's mapping) to ``renames`` renamed."""
    if not renames or not isinstance(value, (dict, list)):
        return value
    if isinstance(value, list):
        return [_renamed(item, renames) for item in value]
    out = {}
    for key, item in value.items():
        if key == "$ref":
            out[key] = _ref(item, renames)
        elif key == "mapping" and isinstance(item, dict):
            out[key] = {tag: _ref(ref, renames) for tag, ref in item.items()}
        else:
            out[key] = _renamed(item, renames)
    return out


def _ref(ref: str, renames: dict[str, str]) -> str:
    name = ref.rsplit("/", 1)[-1]
    return REF.format(model=renames[name]) if name in renames else ref


def _alias_name(kind: Any) -> str | None:
    """The name the module of a union's members gives the union (``TurnEvent = Annotated[...]``)."""
    for module_name in dict.fromkeys(member.__module__ for member in _members(kind)):
        for attribute, value in vars(sys.modules.get(module_name, object)).items():
            if value is kind and not attribute.startswith("_"):
                return attribute
    return None


def _members(kind: Any) -> list[type]:
    """The classes inside an ``Annotated`` / union type."""
    if isinstance(kind, type):
        return [kind]
    return [member for arg in typing.get_args(kind) for member in _members(arg)]


def drop_null(schema: dict[str, Any]) -> dict[str, Any]:
    if schema.get("default", 0) is None:
        schema.pop("default")
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        kinds = [k for k in kinds if k != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    for key in ("anyOf", "oneOf"):
        branches = [b for b in schema.get(key, ()) if b != {"type": "null"}]
        if key in schema and len(branches) == 1:
            schema.pop(key)
            schema.update(branches[0])
        elif key in schema:
            schema[key] = branches
    return schema


def tidy(schema: Any) -> Any:
    """``additionalProperties: true`` beside ``properties`` dropped: it is JSON Schema's default.

    pydantic writes it for every ``Answer`` (extra allowed); left in, every generated TypeScript
    type would get an index signature and a misspelt field would type-check as ``unknown``.
    """
    if isinstance(schema, list):
        return [tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: tidy(value) for key, value in schema.items()}
    if out.get("additionalProperties") is True and "properties" in out:
        del out["additionalProperties"]
    return out
