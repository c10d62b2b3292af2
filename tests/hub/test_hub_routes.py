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


def _fim_gguf(path) -> None:
    """A header-only GGUF declaring fill-in-the-middle tokens (what the registry and the FIM check read)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_context_length(32768)
    for key, token in (("pre", 1), ("suf", 2), ("mid", 3)):
        writer.add_uint32(f"tokenizer.ggml.fim_{key}_token_id", token)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@on_jp_loop
async def test_a_pulled_fim_code_model_is_installed_and_becomes_the_inline_default(api, chat_app, tmp_path):
    from jupyter_chat_ext.hub import pull_store
    from jupyter_chat_ext.hub.catalog import load_catalog

    coder = next(e for e in load_catalog() if e["role"] == "code" and e["fim"])
    model_id = pull_store.pulled_model_id(coder["repo"], coder["file"])
    staged = tmp_path / "staged"
    staged.mkdir()
    _fim_gguf(staged / coder["file"])
    manifest = {
        "model_id": model_id,
        "repo": coder["repo"],
        "file": coder["file"],
        "format": "gguf",
        "revision": "0" * 40,
    }
    core = await chat_app.core()
    pull_store.install(staged, core.settings.hub_dir, manifest)  # as a verified pull leaves it
    core.engine.registry.refresh()

    r = await api.call("GET", "catalog")
    entry = next(e for e in r.json["entries"] if e["id"] == coder["id"])
    assert (entry["installed"], entry["model_id"]) == (True, model_id)
    r = await api.call("GET", "roles")
    assert (
        r.json["inline"] is None and r.json["effective"]["inline"] == model_id
    )  # nobody chose: the FIM model
    assert r.json["effective"]["chat"] == CHAT
