"""The OpenAPI document describes every route, validates as OpenAPI 3.1, and is served behind auth."""

from __future__ import annotations

import httpx
from tornado import web

from jupyter_chat_ext.server.openapi import build_spec, load_spec, openapi_path, route_paths
from jupyter_chat_ext.server.routes import ROUTES

METHODS = ("get", "post", "put", "patch", "delete")


def implemented(handler: type) -> set[str]:
    """The HTTP methods a handler class answers (tornado's defaults answer 405)."""
    return {m for m in METHODS if getattr(handler, m) is not getattr(web.RequestHandler, m)}


def test_route_patterns_become_openapi_paths():
    assert openapi_path(r"sessions/(?P<session_id>[^/]+)/chat") == "/sessions/{session_id}/chat"
    assert openapi_path(r"models/(?P<model_id>.+)/load") == "/models/{model_id}/load"
    assert openapi_path(r"(?P<rest>.*)") == "/{rest}"
    assert openapi_path("v1/chat/completions") == "/v1/chat/completions"


def test_every_route_and_method_is_described():
    paths = load_spec()["paths"]
    missing = [p for p in route_paths() if p not in paths]
    assert not missing, f"routes without an OpenAPI description: {missing}"
    for pattern, handler in ROUTES:
        item = paths[openapi_path(pattern)]
        described = {m for m in METHODS if m in item}
        assert described == implemented(handler), (pattern, described, implemented(handler))


def test_the_served_document_holds_exactly_the_routes_and_validates():
    from openapi_spec_validator import validate

    spec = build_spec("/base/")
    assert set(spec["paths"]) == set(route_paths())
    assert spec["servers"] == [{"url": "/base/chat-ext"}]
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises OpenAPIValidationError with the offending path


def test_every_operation_documents_json_errors_and_has_a_unique_id():
    spec = build_spec()
    ids = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            ids.append(op["operationId"])
            codes = set(op["responses"])
            assert codes & {"4XX", "404"}, (path, method, codes)  # errors are described
            assert any(c.startswith("2") for c in codes) or path == "/{rest}", (path, method)
    assert len(ids) == len(set(ids))


def test_served_at_openapi_json_behind_auth(plain_server):
    server = plain_server
    anonymous = httpx.get(server.url("openapi.json"), timeout=30)
    assert anonymous.status_code == 403
    assert anonymous.json()["error"]["code"] == "forbidden"
    reply = server.get("openapi.json")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    spec = reply.json()
    assert spec == build_spec("/")
    assert set(spec["paths"]) == set(route_paths())
