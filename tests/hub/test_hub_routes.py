"""The hub routes in a real Jupyter server: hardware, Hub search and files (stand-in Hub), catalog,
roles, tools_hint."""

from __future__ import annotations

import json

from server_testlib import on_jp_loop
from standin_hub import GGUF_FILE, GGUF_REPO

CHAT = "smollm2-135m-instruct"
EMBED = "all-minilm-l6-v2"


@on_jp_loop
async def test_hardware_route(api, tmp_path):
    r = await api.call("GET", "hardware")
    assert r.code == 200
    body = r.json
    assert set(body) >= {"cpu", "ram", "disk", "gpus", "jetson", "llama_cpp"}
    assert body["cpu"]["cores"] >= 1 and body["ram"]["total_bytes"] > 0
    assert body["disk"]["path"].startswith(str(tmp_path / "chat-data")) and body["disk"]["free_bytes"] > 0


@on_jp_loop
async def test_catalog_route(api):
    r = await api.call("GET", "catalog")
    assert r.code == 200
    body = r.json
    ids = {e["id"] for e in body["entries"]}
    assert set(body["suggested"]) == {"chat", "code", "embedding", "rerank"}
    assert all(v in ids for v in body["suggested"].values() if v is not None)
    for e in body["entries"]:
        assert (
            e["fits"]["verdict"] in ("gpu", "cpu", "no") and e["installed"] is False and e["model_id"] is None
        )
    assert body["hardware"]["ram"]["total_bytes"] > 0


@on_jp_loop
async def test_search_and_files_routes_against_the_standin_hub(api, standin_hub):
    r = await api.call("GET", "hub/search", params={"q": "smollm2", "kind": "chat", "limit": 5})
    assert r.code == 200, r.text
    assert r.json["models"][0]["repo"] in {GGUF_REPO, "standin/gated-GGUF"} and r.json["models"][0]["gguf"]
    r = await api.call("GET", "hub/files", params={"repo": GGUF_REPO})
    assert r.code == 200, r.text
    (entry,) = r.json["files"]
    assert (entry["file"], entry["format"], entry["quant"], entry["installed"]) == (
        GGUF_FILE,
        "gguf",
        "Q4_1",
        False,
    )
    assert entry["fits"]["verdict"] in ("cpu", "gpu")


@on_jp_loop
async def test_hub_route_errors(api, standin_hub, monkeypatch):
    r = await api.call("GET", "hub/files", params={"repo": "standin/nothing-here"})
    assert (r.code, r.json["error"]["code"]) == (404, "repo_not_found")
    r = await api.call("GET", "hub/files")
    assert r.code == 400
    r = await api.call("GET", "hub/search", params={"kind": "poetry"})
    assert r.code == 400
    r = await api.call("GET", "hub/search", params={"limit": "1000"})
    assert r.code == 400
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = await api.call("GET", "hub/search", params={"q": "x"})
    assert (r.code, r.json["error"]["code"]) == (503, "hub_unreachable")
    assert "Retry-After" in r.headers


@on_jp_loop
async def test_roles_routes_persist_and_refuse(api, tmp_path):
    r = await api.call("GET", "roles")
    assert r.code == 200
    assert (r.json["chat"], r.json["embedding"], r.json["effective"]["inline"]) == (CHAT, EMBED, CHAT)
    roles_file = tmp_path / "chat-data" / "roles.json"

    for body, status in (
        ({"chat": "no-such-model"}, 404),
        ({"chat": EMBED}, 400),
        ({"embedding": CHAT}, 400),
        ({"chat": None}, 400),
        ({"favourite": CHAT}, 400),
        ({}, 400),
    ):
        r = await api.call("PUT", "roles", body=body)
        assert r.code == status, (body, r.text)
        assert "error" in r.json
    assert not roles_file.exists()  # nothing written by a refusal

    r = await api.call("PUT", "roles", body={"inline": CHAT, "chat": CHAT})
    assert r.code == 200, r.text
    assert r.json["inline"] == CHAT and r.json["effective"]["inline"] == CHAT
    assert json.loads(roles_file.read_text()) == {"chat": CHAT, "inline": CHAT}
    r = await api.call("GET", "roles")
    assert r.json["inline"] == CHAT


@on_jp_loop
async def test_models_carry_a_tools_hint(api):
    r = await api.call("GET", "models")
    packaged = next(m for m in r.json["models"] if m["id"] == CHAT)
    hint = packaged["tools_hint"]
    assert hint["likely"] is False and hint["reason"]  # 135M parameters (or a template without tools)
    embedder = next(m for m in r.json["models"] if m["id"] == EMBED)
    assert "tools_hint" not in embedder
    assert packaged["roles"] == ["chat", "inline"] and embedder["roles"] == ["embedding"]
