"""Every route of the extension refuses requests without valid Jupyter credentials."""

from __future__ import annotations

import json
import re

import pytest
from server_testlib import on_jp_loop

from jupyter_chat_ext.server.routes import ROUTES

SAMPLES = {
    "model_id": "smollm2-135m-instruct",
    "session_id": "0" * 32,
    "raw_id": "1",
    "name": "docs",
    "job_id": "j1",
    "rest": "no/such/route",
    "key": "k1",
    "call_id": "call_1",
}


def path_rules(router) -> list:
    """Every path rule of a tornado router, following nested (per-host) routers."""
    found = []
    for rule in router.rules:
        if hasattr(rule.target, "rules"):
            found.extend(path_rules(rule.target))
        elif getattr(rule.matcher, "regex", None) is not None:
            found.append(rule)
    return found


def extension_urls(web_app) -> list[str]:
    """Concrete URLs for every /chat-ext/ rule registered with the server's web application."""
    urls = []
    for rule in path_rules(web_app.default_router):
        pattern = rule.matcher.regex
        if "/chat-ext/" not in pattern.pattern:
            continue
        path = pattern.pattern.rstrip("$").replace("/?", "")
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLES[m[1]], path)
        urls.append(path.replace("\\", ""))
    return urls


def test_every_route_is_registered(jp_web_app):
    urls = extension_urls(jp_web_app)
    assert len(urls) == len(ROUTES)
    assert any(u.endswith("/chat-ext/v1/chat/completions") for u in urls)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "token wrong"}, {"Authorization": "Bearer wrong"}],
    ids=["no-credentials", "wrong-token", "wrong-bearer"],
)
@on_jp_loop
async def test_every_route_refuses_requests_without_credentials(jp_web_app, http_server_client, headers):
    urls = extension_urls(jp_web_app)
    assert urls
    for url in urls:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            body = (
                json.dumps({"content": "hi", "name": "x", "paths": ["a"]})
                if method in ("POST", "PUT", "PATCH")
                else None
            )
            resp = await http_server_client.fetch(
                url, method=method, body=body, headers=dict(headers), raise_error=False, request_timeout=30
            )
            assert resp.code in (401, 403), (method, url, resp.code, resp.body[:200])
            assert b"Traceback" not in (resp.body or b"")
            assert "error" in json.loads(resp.body), (method, url)


@on_jp_loop
async def test_bearer_token_is_accepted(http_server_client, jp_serverapp, jp_base_url):
    token = jp_serverapp.identity_provider.token
    resp = await http_server_client.fetch(
        f"{jp_base_url}chat-ext/health", headers={"Authorization": f"Bearer {token}"}, raise_error=False
    )
    assert resp.code == 200, resp.body
    assert json.loads(resp.body)["status"] == "ok"


@on_jp_loop
async def test_cookie_auth_without_xsrf_is_refused_for_writes(http_server_client, jp_base_url):
    """A POST carrying a mismatched XSRF cookie and no token is refused."""
    resp = await http_server_client.fetch(
        f"{jp_base_url}chat-ext/sessions",
        method="POST",
        body="{}",
        headers={"Cookie": "_xsrf=abc", "X-XSRFToken": "different"},
        raise_error=False,
    )
    assert resp.code == 403
