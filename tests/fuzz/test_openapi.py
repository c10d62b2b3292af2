"""The generated OpenAPI document describes every route, validates as OpenAPI 3.1, is served behind auth."""

from __future__ import annotations

import httpx

from jupyter_chat_ext.server.openapi import build_spec, implemented, openapi_path, route_paths
from jupyter_chat_ext.server.routes import ROUTES
from jupyter_chat_ext.wire.openapi import METHODS
from jupyter_chat_ext.wire.ops import wire_op


def test_route_patterns_become_openapi_paths():
    assert openapi_path(r"sessions/(?P<session_id>[^/]+)/chat") == "/sessions/{session_id}/chat"
    assert openapi_path(r"models/(?P<model_id>.+)/load") == "/models/{model_id}/load"
    assert openapi_path(r"(?P<rest>.*)") == "/{rest}"
    assert openapi_path("v1/chat/completions") == "/v1/chat/completions"


def test_every_handler_method_declares_its_wire_shapes():
    """Every method of every route has an ``@op``: the door validates and the document describes it."""
    missing = [
        f"{handler.__name__}.{method}"
        for _pattern, handler in ROUTES
        for method, function in implemented(handler).items()
        if wire_op(function) is None
    ]
    assert not missing, f"handler methods without @op: {missing}"


def test_every_route_and_method_is_described():
    paths = build_spec()["paths"]
    missing = [p for p in route_paths() if p not in paths]
    assert not missing, f"routes without an OpenAPI description: {missing}"
    for pattern, handler in ROUTES:
        item = paths[openapi_path(pattern)]
        described = {m for m in METHODS if m in item}
        assert described == set(implemented(handler)), (pattern, described, set(implemented(handler)))
        # every path parameter of the pattern is declared on the path item
        declared = {
            p["$ref"].rsplit("/", 1)[-1] if "$ref" in p else p["name"] for p in item.get("parameters", [])
        }
        assert len(declared) == pattern.count("(?P<"), (pattern, declared)


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
            assert "4XX" in codes, (path, method, codes)  # errors are described
            assert any(c.startswith("2") for c in codes) or path == "/{rest}", (path, method)
            for code in codes & {"503", "429"}:  # a retry status says when to retry
                response = op["responses"][code]
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
                assert "Retry-After" in response.get("headers", {}) or path.startswith("/v1/"), (path, code)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_links_name_operations_of_the_document():
    """schemathesis' stateful phase follows the links: each must name an operation and its parameters."""
    spec = build_spec()
    operations = {
        op["operationId"]: (path, item)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }
    links = 0
    for item in spec["paths"].values():
        for method in METHODS:
            for response in item.get(method, {}).get("responses", {}).values():
                for name, link in response.get("links", {}).items():
                    links += 1
                    assert link["operationId"] in operations, name
                    target = operations[link["operationId"]][0]
                    for parameter in link.get("parameters", {}):
                        assert "{" + parameter + "}" in target, (name, parameter, target)
    assert links >= 10


def test_sse_answers_describe_their_events():
    """A text/event-stream answer is one SSE event whose data is the JSON of the event union."""
    spec = build_spec()
    chat = spec["paths"]["/sessions/{session_id}/chat"]["post"]["responses"]["200"]["content"]
    frame = chat["text/event-stream"]["schema"]
    assert frame["properties"]["data"]["contentMediaType"] == "application/json"
    event = frame["properties"]["data"]["contentSchema"]["$ref"].rsplit("/", 1)[-1]
    assert {"start", "token", "done", "error"} <= set(frame["properties"]["event"]["enum"])
    assert event in spec["components"]["schemas"]


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


def test_component_names_are_names_a_reader_can_use():
    """pydantic qualifies two classes of one name with their modules; the document shortens them."""
    names = build_spec()["components"]["schemas"]
    assert not [n for n in names if "__" in n], sorted(names)
    assert "ChatCompletionChunkChoice" in names and "ChatCompletionChoice" in names  # openai's two Choice
