"""The OpenAPI 3.1 document of the API, generated from the route table and each method's ``@op``.

Nothing here is written twice: a route's path and path parameters come from its pattern in
``server/routes.py``, an operation's body, query, answer, stream and errors from the ``@op`` of
its handler method (``wire/ops.py``), and every schema from the pydantic declarations themselves
(``TypeAdapter.json_schemas``: requests in "validation" mode, answers in "serialization" mode),
so what the door accepts and what the document says cannot drift apart (``wire/schemas.py``).
What belongs to no one shape (path parameters, security, tags, the shared error responses) is
declared once in ``wire/openapi_shared.py``.

The module imports no Jupyter or tornado: the server hands it the routes as :class:`Route`
values (which methods a handler implements is tornado's knowledge, ``server/openapi.py``).
"""

from __future__ import annotations

import copy
import http
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from typing_extensions import is_typeddict

from .base import Error
from .openapi_shared import (
    DESCRIPTION,
    PATH_EXAMPLES,
    PATH_PARAMETERS,
    RETRY_AFTER,
    SECURITY_SCHEMES,
    TAGS,
    OpenAIError,
    OpenApiDocument,
    shared_responses,
)
from .ops import Op, wire_op
from .schemas import Components, drop_null, tidy

__all__ = ["METHODS", "OpenApiDocument", "Route", "build_document", "openapi_path", "path_parameter_names"]

METHODS = ("get", "post", "put", "patch", "delete")

#: a named group of a route pattern: "(?P<name>...)" with any (non-nested) body
_GROUP = re.compile(r"\(\?P<(?P<name>[A-Za-z_][A-Za-z0-9_]*)>(?:[^()]|\([^()]*\))*\)")


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


def _query_parameters(spec: Op, parts: Components) -> list[dict[str, Any]]:
    """A query model's fields as ``in: query`` parameters (null is "absent" in a query string)."""
    schema = parts.resolve(parts.ref(spec.query, "validation"))
    required = set(schema.get("required", ()))
    out = []
    for name, prop in schema.get("properties", {}).items():
        prop = drop_null(copy.deepcopy(prop))
        param: dict[str, Any] = {"name": name, "in": "query", "schema": prop}
        if name in required:
            param["required"] = True
        if "description" in prop:
            param["description"] = prop.pop("description")
        out.append(param)
    return out


def _stream_content(spec: Op, path: str, parts: Components) -> dict[str, Any]:
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


def _event_kinds(union: dict[str, Any], parts: Components) -> list[str]:
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


def _responses(spec: Op, path: str, parts: Components) -> dict[str, Any]:
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
                out[str(code)] = {**copy.deepcopy(shared_responses()[shared]), "description": text}
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


def _operation(route: Route, method: str, spec: Op, path: str, parts: Components) -> dict[str, Any]:
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


def _components(parts: Components) -> dict[str, Any]:
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
        "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        "parameters": parameters,
        "headers": {
            "RetryAfter": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}
        },
        "responses": shared_responses(),
        "schemas": {name: tidy(schema) for name, schema in sorted(parts.defs.items())},
    }


def build_document(
    routes: Iterable[Route],
    *,
    version: str,
    server_url: str = "/chat-ext",
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (a method without an ``@op`` is not described)."""
    routes = list(routes)
    parts = Components()
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
