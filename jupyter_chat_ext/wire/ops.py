"""``@op``: what one handler method takes and answers, declared beside the method.

    class SessionsHandler(ChatExtHandler):
        @requires(WRITE)
        @op(body=SessionCreate, answer=Session, status=201, tag="sessions")
        async def post(self, body: SessionCreate) -> None: ...

The decorator parses the body (``self.json_body()``: depth, surrogates, size) and validates it as
the declared model, passing it as ``body=``; a ``query=`` model gets the query string as
``query=``. The same declaration is what ``wire/openapi.py`` reads (``method.wire_op``) to describe
the route, so what a route accepts and what the document says cannot differ. ``requires`` goes
outside ``op``: authentication and authorisation come before the body is read.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from .base import parse

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Op:
    """One operation as the OpenAPI document and the door see it."""

    #: the one-line summary (defaults to the method's docstring's first line)
    summary: str | None = None
    #: the JSON body's model (None: the route takes no JSON body)
    body: type[BaseModel] | None = None
    #: an empty body is allowed (and validated as ``{}``)
    body_optional: bool = False
    #: parse the body on a worker thread (routes whose limit is megabytes: import, upload)
    large_body: bool = False
    #: the query string's model
    query: type[BaseModel] | None = None
    #: the success answer: a model, a type pydantic can describe, or None (no body)
    answer: Any = None
    #: the success status (201 for a create, 204 for no body)
    status: int = 200
    #: the SSE event type (a model or a discriminated union) of a ``text/event-stream`` answer
    stream: Any = None
    #: a non-JSON answer's media type ("text/markdown", "text/plain", ...)
    media: str | None = None
    #: the OpenAPI tag (area) of the route
    tag: str | None = None
    #: statuses besides 2xx/4XX worth naming (409, 413, 429, 503, 507)
    #: each item: a status (409), ``{status: "what it means"}``, or ``(status, Shape)`` for an
    #: error of another shape (the MCP SDK's JSON-RPC errors, health's 503); a 2xx here is a
    #: success without a body (wire/openapi.py reads them)
    errors: tuple[int | dict[int, str] | tuple[int, Any], ...] = ()
    #: OpenAPI links from the success answer (schemathesis' stateful phase follows them)
    links: dict[str, Any] = field(default_factory=dict)
    #: a stable operationId (default: the method and the handler's name)
    operation_id: str | None = None


@dataclass(frozen=True)
class Later:
    """A shape named by where it lives, imported when first needed: ``Later("pkg.module:Name")``.

    For shapes whose module is slow to import: the openai package's types take ~0.35 s on an idle
    machine (its ``__init__`` imports every type it has), three times the extension's own import.
    Declared with ``Later``, the /v1 shapes load on the first /v1 request or document build, not
    while Jupyter starts. ``wire_op`` hands out the declaration with the shapes imported.
    """

    target: str

    def resolve(self) -> Any:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)


#: the fields of an Op that may name their shape with ``Later``
_SHAPES = ("body", "query", "answer", "stream")


def op(summary: str | None = None, **spec: Any) -> Callable[[F], F]:
    """Declare and enforce a handler method's wire shapes (see the module docstring)."""
    declared = Op(summary=summary, **spec)

    def wrap(method: F) -> F:
        @functools.wraps(method)
        async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            # the first request of a route with Later shapes imports them on a worker thread (the
            # openai package's types: ~0.35-0.45 s that would stall every other request)
            declared = wire_op(run) if not _later(run) else await asyncio.to_thread(wire_op, run)
            assert declared is not None
            if declared.body is not None:
                if declared.large_body:
                    raw = await self.json_body_off_loop(required=not declared.body_optional)
                else:
                    raw = self.json_body(required=not declared.body_optional)
                kwargs["body"] = parse(declared.body, raw)
            if declared.query is not None:
                raw_query = {name: self.get_query_argument(name) for name in self.request.query_arguments}
                kwargs["query"] = parse(declared.query, raw_query, where="query parameter")
            result = method(self, *args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        run.wire_op = declared  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return wrap


def _later(method: Any) -> bool:
    """Whether the method's declaration still names a shape to import (``Later``)."""
    spec = getattr(method, "wire_op", None)
    return spec is not None and any(isinstance(getattr(spec, name), Later) for name in _SHAPES)


def wire_op(method: Any) -> Op | None:
    """The declaration of a (decorated) handler method, if it has one (``Later`` shapes imported,
    once: the resolved declaration replaces the declared one)."""
    spec: Op | None = getattr(method, "wire_op", None)
    if spec is None:
        return None
    later = {name: value.resolve() for name in _SHAPES if isinstance(value := getattr(spec, name), Later)}
    if later:
        spec = dataclasses.replace(spec, **later)
        getattr(method, "__func__", method).wire_op = spec
    return spec
