"""The OpenAPI 3.1 document of the API, generated from the route table and each method's ``@op``.

Nothing here is written twice: a route's path and path parameters come from its pattern in
``server/routes.py``, an operation's body, query, answer, stream and errors from the ``@op`` of
its handler method (``wire/ops.py``), and every schema from the pydantic declarations themselves
(``TypeAdapter.json_schemas``: requests in "validation" mode, answers in "serialization" mode),
so what the door accepts and what the document says cannot drift apart. The few things that
belong to no one shape live here: the path parameters' schemas, the security schemes, the tags,
and the error responses every operation shares.

The module imports no Jupyter or tornado: the server hands it the routes as :class:`Route`
values (which methods a handler implements is tornado's knowledge, ``server/openapi.py``).
"""

from __future__ import annotations

import copy
import http
import inspect
import re
import sys
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode
from typing_extensions import is_typeddict

from .base import Answer, Error
from .ops import Op, wire_op

METHODS = ("get", "post", "put", "patch", "delete")
REF = "#/components/schemas/{model}"

#: a named group of a route pattern: "(?P<name>...)" with any (non-nested) body
_GROUP = re.compile(r"\(\?P<(?P<name>[A-Za-z_][A-Za-z0-9_]*)>(?:[^()]|\([^()]*\))*\)")

DESCRIPTION = (
    "Local-first AI chat inside Jupyter: sessions and messages (DuckDB), streaming chat turns "
    "(text/event-stream), RAG collections (LanceDB), read-only SQL over the store, and an "
    "OpenAI-compatible /v1 API. Every route needs Jupyter credentials (a token in the "
    "Authorization header, or the session cookie plus the XSRF header). Errors are JSON "
    '{"error": {"code", "message"}} with a fitting status, never a stack trace (the /v1 routes use '
    "OpenAI's error shape). 429 and 503 carry Retry-After. This document is generated from the "
    "route table and the pydantic declarations of jupyter_chat_ext/wire/."
)

TAGS: dict[str, str] = {
    "server": "health, metrics, this document",
    "models": "the model registry and loading",
    "sessions": "chat sessions and their messages",
    "chat": "turns: text/event-stream answers",
    "store": "history search, read-only SQL, response cache",
    "rag": "collections, ingestion, search",
    "jobs": "background jobs of every kind: ingest, upload, model pull",
    "openai": "OpenAI-compatible routes",
    "completion": "inline completion and files as chat context",
    "tools": "tools for agent turns; this server's history and RAG as an MCP server",
    "hub": "hardware profile, Hugging Face Hub search and files, the model catalog, roles",
    "providers": "OpenAI-compatible endpoints added at run time (keys never returned)",
}


def _string(min_length: int | None, max_length: int, **more: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "maxLength": max_length, **more}
    if min_length is not None:
        schema["minLength"] = min_length
    return schema


#: path parameters: (component name, schema, description); by name, or by (first segment, name)
PATH_PARAMETERS: dict[Any, tuple[str, dict[str, Any], str | None]] = {
    "session_id": ("SessionId", _string(1, 200), "32 hex chars"),
    "raw_id": ("MessageId", _string(1, 40), "a message id (integer; anything else is 404)"),
    "model_id": ("ModelId", _string(1, 500), "a registry id (may contain slashes)"),
    "job_id": ("JobId", _string(1, 200), None),
    "call_id": ("CallId", _string(None, 200), "the call_id of a tool_call event"),
    "key": ("CacheKey", _string(1, 1000), None),
    ("collections", "name"): ("CollectionName", _string(1, 200), None),
    ("providers", "name"): (
        "ProviderName",
        _string(1, 64),
        "the provider's name (the prefix of its model ids)",
    ),
    "rest": (
        "UnknownPath",
        {"type": "string", "pattern": "^no-such-[A-Za-z0-9_-]*$"},
        "any path under /chat-ext/ that no other route matches (here, names starting no-such-)",
    ),
}
#: examples schemathesis starts from (a real id makes the model routes answer more than 404)
PATH_EXAMPLES = {"ModelId": {"default": {"value": "smollm2-135m-instruct"}}}

RETRY_AFTER = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}


class OpenAIErrorBody(Answer):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(Answer):
    """Every error of /v1: OpenAI's ``{"error": {"message", "type", "param", "code"}}``."""

    error: OpenAIErrorBody


class OpenApiDocument(Answer):
    """the OpenAPI 3.1 document"""

    openapi: str
    paths: dict[str, Any]


def openapi_path(pattern: str) -> str:
    """``sessions/(?P<session_id>[^/]+)/chat`` -> ``/sessions/{session_id}/chat``."""
    return "/" + _GROUP.sub(lambda m: "{" + m.group("name") + "}", pattern)


def path_parameter_names(pattern: str) -> list[str]:
    """The named groups of a route pattern, in order."""
    return [m.group("name") for m in _GROUP.finditer(pattern)]


@dataclass(frozen=True)
class Route:
    """One route as the document sees it: its pattern, its handler's name, its methods."""

    pattern: str
    handler: str
    #: HTTP method (lower case) -> the handler's function for it
    methods: dict[str, Callable[..., Any]]
    #: the handler class's docstring (the path item's description)
    doc: str | None = None
    #: the media type of a raw (non-JSON) request body the handler streams to a file
    raw_body: str | None = None


class _Schemas(GenerateJsonSchema):
    """pydantic's generator without a title on every property (noise in the document and the TS)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


@dataclass
class _Components:
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
        self.defs = dict(top.get("$defs", {}))
        for (i, mode), schema in refs.items():
            kind = self.wanted[i][0]
            self.schemas[(id(kind), mode)] = self._named(kind, schema)

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


def _doc(function: Callable[..., Any] | type | None) -> tuple[str | None, str | None]:
    """(first line, the rest) of a docstring."""
    text = inspect.cleandoc(function.__doc__) if function is not None and function.__doc__ else ""
    first, _, rest = text.partition("\n\n")
    return (" ".join(first.split()) or None, rest.strip() or None)


def _declared(kind: Any) -> bool:
    """A declared shape (its docstring describes the answer; ``str``'s does not)."""
    return isinstance(kind, type) and (issubclass(kind, BaseModel) or is_typeddict(kind))


def _is_openai(path: str) -> bool:
    return path.startswith("/v1/")


def _query_parameters(spec: Op, parts: _Components) -> list[dict[str, Any]]:
    """A query model's fields as ``in: query`` parameters (null is "absent" in a query string)."""
    schema = parts.resolve(parts.ref(spec.query, "validation"))
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = _drop_null(copy.deepcopy(prop))
        param: dict[str, Any] = {"name": name, "in": "query", "schema": prop}
        if name in required:
            param["required"] = True
        if "description" in prop:
            param["description"] = prop.pop("description")
        out.append(param)
    return out


def _drop_null(schema: dict[str, Any]) -> dict[str, Any]:
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


def _stream_content(spec: Op, path: str, parts: _Components) -> dict[str, Any]:
    """A text/event-stream answer: one SSE event, its ``data`` the JSON of the event union."""
    event = parts.ref(spec.stream, "serialization")
    if _is_openai(path):  # OpenAI ends its streams with `data: [DONE]`, which is no JSON
        data = {
            "type": "string",
            "description": f"{event['$ref'].rsplit('/', 1)[-1]} as JSON; the last is [DONE]",
        }
        return {"schema": {"type": "object", "required": ["data"], "properties": {"data": data}}}
    union = parts.resolve(event)
    kinds = _event_kinds(union, parts)
    frame: dict[str, Any] = {
        "type": "object",
        "description": "one event: `event: <type>` and `data: <one line of JSON>`",
        "required": ["data"],
        "properties": {
            "event": {"type": "string", **({"enum": kinds} if kinds else {})},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": event},
        },
    }
    return {"schema": frame}


def _event_kinds(union: dict[str, Any], parts: _Components) -> list[str]:
    """The ``type`` constants of an event union's members (the SSE ``event:`` names)."""
    kinds = []
    for branch in union.get("oneOf", union.get("anyOf", [union])):
        const = parts.resolve(branch).get("properties", {}).get("type", {}).get("const")
        if isinstance(const, str):
            kinds.append(const)
    return kinds


def _answers(spec: Op) -> dict[int, Any]:
    """Success status -> answer type (an ``answer`` mapping names several statuses)."""
    if isinstance(spec.answer, Mapping):
        return {int(status): kind for status, kind in spec.answer.items()}
    return {spec.status: spec.answer}


def _responses(spec: Op, path: str, parts: _Components) -> dict[str, Any]:
    error = "OpenAIError" if _is_openai(path) else "Error"
    out: dict[str, Any] = {}
    for status, answer in _answers(spec).items():
        description = _doc(answer)[0] if _declared(answer) else None
        response: dict[str, Any] = {"description": description or http.HTTPStatus(status).phrase.lower()}
        content: dict[str, Any] = {}
        if spec.media:  # a text answer ("text/plain"), beside a JSON one when answer is a model
            content[spec.media] = {"schema": {"type": "string"}}
        if answer is not None and not (spec.media and answer is str):
            content["application/json"] = {"schema": parts.ref(answer, "serialization")}
        if spec.stream is not None and 200 <= status < 300:
            content["text/event-stream"] = _stream_content(spec, path, parts)
        if content:
            response["content"] = content
        if spec.links and 200 <= status < 300:
            response["links"] = copy.deepcopy(spec.links)
        out[str(status)] = response
    out["4XX"] = {"$ref": f"#/components/responses/{error}"}
    for status in spec.errors:
        if isinstance(status, Mapping):  # {status: what it means here}
            for code, text in status.items():
                shared = _error_ref(int(code), error)["$ref"].rsplit("/", 1)[-1]
                out[str(code)] = {**copy.deepcopy(_components_responses()[shared]), "description": text}
        elif isinstance(status, tuple):  # (status or "4XX", the shape those errors have)
            code, kind = status
            content = {"application/json": {"schema": parts.ref(kind, "serialization")}}
            text = _doc(kind)[0] if _declared(kind) else None
            out[str(code)] = {"description": text or "an error", "content": content}
            if code in (429, 503):  # said with its own shape, still a status to retry
                out[str(code)]["headers"] = copy.deepcopy(RETRY_AFTER)
        elif 200 <= int(status) < 300:  # another success, without a body (a notification's 202)
            out.setdefault(str(status), {"description": http.HTTPStatus(int(status)).phrase.lower()})
        else:
            out.setdefault(str(status), _error_ref(int(status), error))
    return out


def _error_kinds(spec: Op) -> list[Any]:
    """The shapes named by ``errors=((status, shape), ...)``."""
    return [status[1] for status in spec.errors if isinstance(status, tuple)]


def _error_ref(status: int, error: str) -> dict[str, Any]:
    if status in (429, 503) and error == "Error":
        return {"$ref": "#/components/responses/Unavailable"}
    return {"$ref": f"#/components/responses/{error}"}


def _error_response(status: int, error: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "content": {"application/json": {"schema": {"$ref": REF.format(model=error)}}}
    }
    if status in (429, 503):
        response["headers"] = copy.deepcopy(RETRY_AFTER)
    return response


def _operation(route: Route, method: str, spec: Op, path: str, parts: _Components) -> dict[str, Any]:
    first, rest = _doc(route.methods[method])
    operation: dict[str, Any] = {}
    if spec.tag:
        operation["tags"] = [spec.tag]
    operation["operationId"] = spec.operation_id or method + route.handler.removesuffix("Handler")
    summary = spec.summary or first
    if summary:
        operation["summary"] = summary
    description = "\n\n".join(p for p in ((first if spec.summary else None), rest) if p)
    if description and description != summary:
        operation["description"] = description
    if spec.query is not None:
        operation["parameters"] = _query_parameters(spec, parts)
    if spec.body is not None:
        operation["requestBody"] = {
            "required": not spec.body_optional,
            "content": {"application/json": {"schema": parts.ref(spec.body, "validation")}},
        }
    elif route.raw_body and method in ("post", "put"):
        raw = {"type": "string", "contentMediaType": route.raw_body}
        operation["requestBody"] = {"required": True, "content": {route.raw_body: {"schema": raw}}}
    operation["responses"] = _responses(spec, path, parts)
    return operation


def _path_parameter(pattern: str, name: str) -> dict[str, Any]:
    first = pattern.split("/", 1)[0]
    declared = PATH_PARAMETERS.get((first, name)) or PATH_PARAMETERS.get(name)
    if declared is None:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
    return {"$ref": f"#/components/parameters/{declared[0]}"}


def _tidy(schema: Any) -> Any:
    """``additionalProperties: true`` beside ``properties`` dropped: it is JSON Schema's default.

    pydantic writes it for every ``Answer`` (extra allowed); left in, every generated TypeScript
    type would get an index signature and a misspelt field would type-check as ``unknown``.
    """
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _tidy(value) for key, value in schema.items()}
    if out.get("additionalProperties") is True and "properties" in out:
        del out["additionalProperties"]
    return out


def _components_responses() -> dict[str, Any]:
    """The error responses operations share (an error of /chat-ext, one to retry, one of /v1)."""
    error = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    return {
        "Error": {"description": "a JSON error with a stable code", "content": error},
        "Unavailable": {
            "description": (
                "a needed part is not ready (model loading or failed, store locked, RAG missing); retry later"
            ),
            "headers": copy.deepcopy(RETRY_AFTER),
            "content": copy.deepcopy(error),
        },
        "OpenAIError": {
            "description": "OpenAI's error shape",
            "content": {"application/json": {"schema": {"$ref": REF.format(model="OpenAIError")}}},
        },
    }


def _components(parts: _Components) -> dict[str, Any]:
    parameters = {}
    for key, (component, schema, description) in PATH_PARAMETERS.items():
        name = key[1] if isinstance(key, tuple) else key
        param: dict[str, Any] = {"name": name, "in": "path", "required": True}
        if description:
            param["description"] = description
        param["schema"] = schema
        if component in PATH_EXAMPLES:
            param["examples"] = PATH_EXAMPLES[component]
        parameters[component] = param
    return {
        "securitySchemes": {
            "token": {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "token <the Jupyter server token>",
            },
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "the Jupyter server token (what the openai client sends)",
            },
        },
        "parameters": parameters,
        "headers": {
            "RetryAfter": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}
        },
        "responses": _components_responses(),
        "schemas": {name: _tidy(schema) for name, schema in sorted(parts.defs.items())},
    }


def build_document(
    routes: Iterable[Route],
    *,
    version: str,
    server_url: str = "/chat-ext",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (a method without an ``@op`` is not described)."""
    routes = list(routes)
    parts = _Components()
    parts.want(Error, "serialization")
    parts.want(OpenAIError, "serialization")
    for route in routes:
        for function in route.methods.values():
            spec = wire_op(function)
            if spec is None:
                continue
            parts.want(spec.body, "validation")
            parts.want(spec.query, "validation")
            for answer in _answers(spec).values():
                parts.want(answer, "serialization")
            parts.want(spec.stream, "serialization")
            for kind in _error_kinds(spec):
                parts.want(kind, "serialization")
    parts.build()

    paths: dict[str, Any] = {}
    for route in routes:
        path = openapi_path(route.pattern)
        item: dict[str, Any] = {}
        if route.doc:
            item["description"] = _doc_text(route.doc)
        names = path_parameter_names(route.pattern)
        if names:
            item["parameters"] = [_path_parameter(route.pattern, name) for name in names]
        for method in METHODS:
            if method not in route.methods:
                continue
            spec = wire_op(route.methods[method])
            if spec is not None:
                item[method] = _operation(route, method, spec, path, parts)
        paths[path] = item

    components = _components(parts)
    return {
        "openapi": "3.1.0",
        "info": {"title": "jupyter-chat-ext", "version": version, "description": DESCRIPTION},
        "servers": [{"url": server_url}],
        "security": [{"token": []}, {"bearer": []}],
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": paths,
        "components": components,
    }


def _doc_text(doc: str) -> str:
    return " ".join(inspect.cleandoc(doc).split())
