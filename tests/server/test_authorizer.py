"""Every route asks Jupyter's authorizer (resource ``chat_ext``), so a deployment can deny actions.

A real server runs with a custom ``Authorizer`` (``ServerApp.authorizer_class``) that denies one
action; every route mapped to that action answers 403 and writes nothing, the others still work.
"""

from __future__ import annotations

import json

import pytest
from jupyter_server.auth.authorizer import Authorizer
from server_testlib import assert_error, on_jp_loop
from traitlets import Unicode
from traitlets.config import Config

from jupyter_chat_ext.server.routes import ROUTES

SID = "0" * 32
#: (method, path under /chat-ext/, body, action) for every method of every route. The sample ids
#: name nothing and the model routes get invalid bodies, so a request the authorizer lets through
#: ends in 400/404 at once (no model runs); the authorizer is asked before the body is looked at.
CALLS: list[tuple[str, str, object, str]] = [
    ("GET", "health", None, "read"),
    ("GET", "metrics", None, "read"),
    ("GET", "openapi.json", None, "read"),
    ("GET", "models", None, "read"),
    ("GET", "models/no-such-model", None, "read"),
    ("POST", "models/no-such-model/load", {}, "execute"),
    ("POST", "models/no-such-model/unload", {}, "execute"),
    ("DELETE", "models/no-such-model", None, "execute"),
    ("POST", "models/pull", {"repo": 5}, "execute"),
    ("GET", "hardware", None, "read"),
    ("GET", "hub/search?kind=no-such-kind", None, "read"),
    ("GET", "hub/files", None, "read"),
    ("GET", "catalog", None, "read"),
    ("GET", "roles", None, "read"),
    ("PUT", "roles", {"chat": 5}, "write"),
    ("GET", "providers", None, "read"),
    ("POST", "providers", {"name": 5}, "write"),
    ("GET", "providers/no-such-provider", None, "read"),
    ("PUT", "providers/no-such-provider", {"base_url": 5}, "write"),
    ("DELETE", "providers/no-such-provider", None, "write"),
    ("POST", "providers/no-such-provider/test", {}, "execute"),
    ("GET", "context/files?q=x", None, "read"),
    ("GET", "sessions", None, "read"),
    ("POST", "sessions", {"title": "denied?"}, "write"),
    ("POST", "sessions/import", {"session": {"title": "x"}, "messages": []}, "write"),
    ("GET", f"sessions/{SID}", None, "read"),
    ("PATCH", f"sessions/{SID}", {"title": "x"}, "write"),
    ("DELETE", f"sessions/{SID}", None, "write"),
    ("GET", f"sessions/{SID}/messages", None, "read"),
    ("PATCH", f"sessions/{SID}/messages/1", {"content": "x"}, "write"),
    ("DELETE", f"sessions/{SID}/messages/1", None, "write"),
    ("POST", f"sessions/{SID}/messages/1/continue", {}, "execute"),
    ("POST", f"sessions/{SID}/messages/1/branch", {}, "write"),
    ("POST", f"sessions/{SID}/chat", {"content": "hi"}, "execute"),
    ("POST", f"sessions/{SID}/regenerate", {}, "execute"),
    ("GET", f"sessions/{SID}/export", None, "read"),
    ("GET", "search?q=x", None, "read"),
    ("GET", "tools", None, "read"),
    ("POST", "mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}, "read"),
    ("POST", "tool-calls/call_0", {"decision": "deny"}, "execute"),
    ("POST", "sql", {"query": "SELECT 1"}, "execute"),
    ("GET", "cache/k1", None, "read"),
    ("PUT", "cache/k1", {"value": {"a": 1}}, "write"),
    ("GET", "collections", None, "read"),
    ("POST", "collections", {"name": "denied"}, "write"),
    ("GET", "collections/docs", None, "read"),
    ("DELETE", "collections/docs", None, "write"),
    ("POST", "collections/docs/documents", {"paths": ["a.txt"]}, "write"),
    ("POST", "collections/docs/reindex", {}, "write"),
    ("POST", "collections/docs/upload?filename=a.txt", "hello", "write"),
    ("GET", "collections/docs/search?q=x", None, "read"),
    ("GET", "jobs", None, "read"),
    ("GET", "jobs/j1", None, "read"),
    ("POST", "jobs/j1/cancel", {}, "write"),
    ("POST", "jobs/j1/resume", {}, "write"),
    ("GET", "v1/models", None, "read"),
    ("GET", "v1/models/no-such-model", None, "read"),
    ("POST", "v1/chat/completions", {"messages": []}, "execute"),
    ("POST", "v1/completions", {"prompt": 5}, "execute"),
    ("POST", "v1/embeddings", {"input": 42}, "execute"),
    ("POST", "inline", {"max_lines": 0}, "execute"),
    ("POST", "context/file", {"path": ""}, "read"),
    ("GET", "no/such/route", None, "read"),
    ("POST", "no/such/route", {}, "write"),
]


class DenyOneAction(Authorizer):
    """Allows everything except ``denied`` on the chat_ext resource."""

    denied = Unicode("", config=True)

    def is_authorized(self, handler, user, action, resource):  # type: ignore[override]
        return not (resource == "chat_ext" and action == self.denied)


@pytest.fixture(params=["read", "write", "execute"])
def denied(request) -> str:
    return request.param


@pytest.fixture
def jp_server_config(tmp_path, denied):
    # the server tests' config, built here: `from conftest import ...` finds whichever conftest
    # module was imported first (tests/faults has one too), so it broke when both dirs ran together
    config = Config(
        {
            "ServerApp": {"jpserver_extensions": {"jupyter_chat_ext": True}},
            "ChatExtApp": {"data_dir": str(tmp_path / "chat-data"), "preload_default_model": False},
        }
    )
    config.ServerApp.authorizer_class = DenyOneAction
    config.DenyOneAction.denied = denied
    return config


def route_of(path: str) -> type:
    import re

    for pattern, handler in ROUTES:
        if re.fullmatch(pattern, path.split("?")[0]):
            return handler
    raise AssertionError(path)


def live_calls() -> list[tuple[str, str, object, str]]:
    """CALLS whose route exists in this build (a sample for a route not added yet is left out)."""
    fallback = route_of("no/such/route")
    return [c for c in CALLS if c[1].startswith("no/") or route_of(c[1]) is not fallback]


def declared_action(handler: type, method: str) -> str | None:
    return getattr(getattr(handler, method.lower(), None), "chat_ext_action", None)


def test_every_method_of_every_route_declares_its_action():
    """A handler method without ``@requires(action)`` would skip the authorizer: none may."""
    for _, handler in ROUTES:
        for method in ("get", "post", "put", "patch", "delete"):
            impl = getattr(handler, method)
            if getattr(impl, "__qualname__", "").startswith("RequestHandler."):
                continue  # not implemented: tornado answers 405
            assert declared_action(handler, method) in ("read", "write", "execute"), (handler, method)


def test_the_sample_calls_cover_every_route_and_match_its_declared_action():
    covered = set()
    for method, path, _, action in live_calls():
        handler = route_of(path)
        covered.add(handler)
        assert declared_action(handler, method) == action, (method, path)
    assert covered == {handler for _, handler in ROUTES}


@on_jp_loop
async def test_denied_actions_answer_403_and_write_nothing(api, chat_app, denied):
    core = await chat_app.core()
    before = (core.store.count_sessions(), count_messages(core))
    other = {"read": ("GET", "health"), "write": ("POST", "sessions"), "execute": ("POST", "sql")}
    for method, path, body, action in live_calls():
        raw = body if isinstance(body, (str, type(None))) else json.dumps(body)
        parts, _, query = path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&")) if query else None
        reply = await api.call(method, *parts.split("/"), body=raw, params=params)
        if action == denied:
            err = assert_error(reply, 403, "forbidden")
            assert denied in err["message"], (method, path, err)
        else:
            assert reply.code != 403, (method, path, reply.body[:200])
    after = (core.store.count_sessions(), count_messages(core))
    if denied == "write":
        assert after == before  # nothing written by any denied request
    if denied == "execute":
        assert after[1] == before[1]  # no turn ran
    assert (await api.call("GET", "health")).code == (403 if denied == "read" else 200)
    # an allowed action of another kind still works
    for action, (method, path) in other.items():
        if action == denied or action == "read":
            continue
        body = {"query": "SELECT 1"} if path == "sql" else {}
        assert (await api.call(method, path, body=json.dumps(body))).code in (200, 201)


def count_messages(core) -> int:
    return sum(s["message_count"] for s in core.store.list_sessions(limit=1000))


@on_jp_loop
async def test_an_edit_that_resends_needs_execute_too(api, chat_app, denied):
    if denied != "execute":
        pytest.skip("only the execute-denied server refuses the resend")
    core = await chat_app.core()
    session = core.chat.create_session(title="t")
    message = core.store.add_message(session["id"], "user", "hello")
    path = ("sessions", session["id"], "messages", str(message["id"]))
    assert_error(await api.patch(*path, body={"content": "edited", "resend": True}), 403, "forbidden")
    assert core.store.get_message(message["id"])["content"] == "hello"  # refused: nothing changed
    reply = await api.patch(*path, body={"content": "edited"})  # a plain edit is a write
    assert reply.code == 200, reply.body
    assert reply.json["content"] == "edited"
