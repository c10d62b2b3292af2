"""Providers from the UI (issue 20 item 5): add, list, test, edit and remove an OpenAI-compatible
endpoint at run time through the real server, against a stand-in endpoint on 127.0.0.1.

The key never comes back: not in any answer, not in the providers file, not in the DuckDB file
(a chat through the provider included). With a keyring it lives there only: these tests use
keyrings.alt's PlaintextKeyring in a tmp folder (a plain-text file: a test backend, nothing more),
and the ``fail`` backend for a machine without a keyring, where only ``api_key_env`` is accepted.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from openai_standin import TOKENS, standin
from server_testlib import SMALL, assert_error, on_jp_loop

keyring = pytest.importorskip("keyring")

SECRET = "sk-standin-DO-NOT-LEAK-5d41402abc"


@pytest.fixture
def endpoint() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    with standin(SECRET) as pair:
        yield pair


@pytest.fixture
def providers_file(tmp_path: Path) -> Path:
    return tmp_path / "jupyter-config" / "chat_ext" / "providers.json"


@pytest.fixture
def chat_ext_overrides(providers_file: Path) -> dict[str, object]:
    return {"providers_file": str(providers_file), "scan_hf_cache": False}


@pytest.fixture
def file_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """keyrings.alt's plain-text file keyring under tmp_path (what the key store then uses)."""
    alt = pytest.importorskip("keyrings.alt.file")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")  # chosen on purpose
    kr = alt.PlaintextKeyring()
    before = keyring.get_keyring()
    keyring.set_keyring(kr)
    try:
        yield Path(kr.file_path)
    finally:
        keyring.set_keyring(before)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(before)


def files_text(*paths: Path) -> str:
    """The bytes of files (and the DuckDB WAL beside a .duckdb file) as text, for leak checks."""
    out = []
    for path in paths:
        for p in (path, path.with_name(path.name + ".wal")):
            if p.exists():
                out.append(p.read_bytes().decode("latin-1"))
    return "\n".join(out)


async def model_ids(api) -> list[str]:
    reply = await api.get("models")
    assert reply.code == 200, reply.body
    return [m["id"] for m in reply.json["models"]]


@on_jp_loop
async def test_round_trip_with_a_keyring_never_returns_or_stores_the_key(
    api, chat_app, endpoint, file_keyring, providers_file, caplog
):
    caplog.set_level(logging.DEBUG)
    base_url, server = endpoint
    bodies: list[str] = []

    async def call(method: str, *path: str, **kw: Any):
        reply = await api.call(method, *path, **kw)
        bodies.append(reply.text)
        return reply

    listed = await call("GET", "providers")
    assert listed.code == 200
    assert listed.json["keyring"]["available"] is True
    assert "PLAIN TEXT" in listed.json["keyring"]["note"]  # the UI says what this backend is
    presets = {p["id"]: p["base_url"] for p in listed.json["presets"]}
    assert (
        presets["ollama"] == "http://localhost:11434/v1" and presets["openai"] == "https://api.openai.com/v1"
    )

    # test before saving: the form's draft, key included
    draft = await call("POST", "providers", "standin", "test", body={"base_url": base_url, "api_key": SECRET})
    assert draft.code == 200, draft.body
    assert draft.json["ok"] is True and draft.json["models"] == ["echo-1"]

    added = await call(
        "POST",
        "providers",
        body={"name": "standin", "base_url": base_url + "/", "api_key": SECRET, "preset": "vllm"},
    )
    assert added.code == 201, added.body
    p = added.json
    assert (p["name"], p["base_url"], p["key"], p["key_set"], p["source"]) == (
        "standin",
        base_url,
        "keyring",
        True,
        "user",
    )
    # the new provider's model is served at once, without a restart
    assert "standin/echo-1" in await model_ids(api)

    tested = await call("POST", "providers", "standin", "test")
    t = tested.json
    assert tested.code == 200 and t["ok"] is True, t
    assert t["models"] == ["echo-1"] and t["model_id"] == "standin/echo-1"
    assert t["answer"] == "".join(TOKENS) and t["ttft_s"] is not None and t["ttft_s"] >= 0
    assert f"Bearer {SECRET}" in server.auth_seen  # type: ignore[attr-defined]

    # a chat turn through the provider (the engine reads the key from the keyring)
    session = await api.new_session(model="standin/echo-1")
    turn = await api.chat(session["id"], "Say hello.", params=SMALL)
    bodies.append(turn.text)
    kinds = [k for k, _ in turn.events]
    assert kinds[0] == "start" and kinds[-1] == "done", turn.events
    assert "".join(d["text"] for k, d in turn.events if k == "token") == "".join(TOKENS)

    # edit (models, base URL kept), then remove: the model goes, the key leaves the keyring
    edited = await call("PUT", "providers", "standin", body={"models": ["echo-1", "echo-2"]})
    assert (
        edited.code == 200
        and edited.json["models"] == ["echo-1", "echo-2"]
        and edited.json["key"] == "keyring"
    )
    assert {"standin/echo-1", "standin/echo-2"} <= set(await model_ids(api))
    assert keyring.get_password("jupyter-chat-ext", "standin") == SECRET

    saved = json.loads(providers_file.read_text())
    assert [r["name"] for r in saved["providers"]] == ["standin"] and saved["providers"][0][
        "key"
    ] == "keyring"
    assert providers_file.stat().st_mode & 0o077 == 0  # only the user reads it

    db = Path(chat_app._core.settings.db_path)
    export = await api.get("sessions", session["id"], "export", params={"format": "json"})
    bodies.append(export.text)
    assert SECRET not in files_text(providers_file, db)
    assert SECRET not in "".join(bodies)
    # where it went: the test keyring's file, base64 only (keyrings.alt's "plain text")
    assert base64.b64encode(SECRET.encode()).decode() in file_keyring.read_text()
    assert base64.b64encode(SECRET.encode()).decode() not in files_text(providers_file, db)

    removed = await call("DELETE", "providers", "standin")
    assert removed.code == 200 and removed.json == {"deleted": "standin"}
    assert not any(m.startswith("standin/") for m in await model_ids(api))
    assert keyring.get_password("jupyter-chat-ext", "standin") is None
    assert json.loads(providers_file.read_text())["providers"] == []
    assert SECRET not in "".join(bodies)
    assert SECRET not in caplog.text  # never logged (the server's records at DEBUG)


@on_jp_loop
async def test_an_environment_variable_names_the_key(api, endpoint, no_keyring, providers_file, monkeypatch):
    base_url, _server = endpoint
    monkeypatch.setenv("STANDIN_KEY", SECRET)
    listed = await api.get("providers")
    assert listed.json["keyring"]["available"] is False
    assert "environment variable" in listed.json["keyring"]["note"]

    # no keyring here: a key is refused (nothing written), its variable's name is accepted
    refused = await api.post("providers", body={"name": "envp", "base_url": base_url, "api_key": SECRET})
    err = assert_error(refused, 400, "unsupported")
    assert "api_key_env" in err["message"] and SECRET not in refused.text
    assert not providers_file.exists()

    added = await api.post(
        "providers", body={"name": "envp", "base_url": base_url, "api_key_env": "STANDIN_KEY"}
    )
    assert added.code == 201, added.body
    assert (added.json["key"], added.json["api_key_env"], added.json["key_set"]) == (
        "env",
        "STANDIN_KEY",
        True,
    )
    tested = await api.post("providers", "envp", "test")
    assert tested.json["ok"] is True, tested.json
    assert "envp/echo-1" in await model_ids(api)

    # a wrong key: the test says what the endpoint said, without echoing the key
    monkeypatch.setenv("STANDIN_KEY", "sk-wrong")
    bad = await api.post("providers", "envp", "test")
    assert bad.code == 200 and bad.json["ok"] is False
    assert "401" in (bad.json["models_error"] or "") and "sk-wrong" not in bad.text
    assert SECRET not in providers_file.read_text()


@on_jp_loop
async def test_refusals_write_nothing(api, endpoint, file_keyring, providers_file):
    base_url, _ = endpoint
    cases = [
        ({"name": "a b", "base_url": base_url}, 400),
        ({"name": "ok", "base_url": "ftp://host/v1"}, 400),
        ({"name": "ok", "base_url": "http://user:pw@host/v1"}, 400),
        ({"name": "ok", "base_url": "http://127.0.0.1:99999/v1"}, 400),
        ({"name": "ok", "base_url": base_url, "api_key": SECRET, "api_key_env": "K"}, 400),
        ({"name": "ok", "base_url": base_url, "api_key_env": "1BAD"}, 400),
        ({"name": "ok", "base_url": base_url, "surprise": 1}, 400),
        ({"name": "ok", "base_url": base_url, "preset": "nope"}, 400),
        ({"name": "ok", "base_url": base_url, "models": "x" * 300}, 400),
        ({"name": "ok"}, 400),
    ]
    for body, status in cases:
        reply = await api.post("providers", body=body)
        assert_error(reply, status)
        assert SECRET not in reply.text
    assert not providers_file.exists()
    assert keyring.get_password("jupyter-chat-ext", "ok") is None

    assert (await api.post("providers", body={"name": "one", "base_url": base_url})).code == 201
    assert_error(await api.post("providers", body={"name": "one", "base_url": base_url}), 409)
    assert_error(await api.call("PUT", "providers", "nope", body={"models": []}), 404)
    assert_error(await api.delete("providers", "nope"), 404)
    assert_error(await api.post("providers", "nope", "test"), 404)
    assert_error(await api.call("PUT", "providers", "one", body={"name": "two"}), 400)
    assert [r["name"] for r in json.loads(providers_file.read_text())["providers"]] == ["one"]


# -- the core, without a server ---------------------------------------------------------------------
def test_saved_providers_join_the_engine_at_start_and_configured_ones_stay_read_only(
    tmp_path, endpoint, no_keyring, providers_file, monkeypatch
):
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.errors import Conflict
    from jupyter_chat_ext.providers import ProviderService
    from jupyter_chat_ext.settings import Settings

    base_url, _ = endpoint
    monkeypatch.setenv("STANDIN_KEY", SECRET)
    providers_file.parent.mkdir(parents=True)
    saved = [
        {"name": "saved", "base_url": base_url, "key": "env", "api_key_env": "STANDIN_KEY"},
        {"name": "cfg", "base_url": base_url, "key": "none"},  # clashes with the configured one
    ]
    providers_file.write_text(json.dumps({"version": 1, "providers": saved}))
    settings = Settings(
        data_dir=tmp_path / "d",
        scan_hf_cache=False,
        providers_file=providers_file,
        remote_endpoints=[
            {"name": "cfg", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-config-secret"}
        ],
    )
    engine = Engine(settings)
    try:
        service = ProviderService(settings, engine).start()
        listing = service.list()
        by_name = {p["name"]: p for p in listing["providers"]}
        assert by_name["cfg"]["source"] == "config" and by_name["cfg"]["editable"] is False
        assert by_name["saved"]["source"] == "user" and by_name["saved"]["key_set"] is True
        assert any("cfg" in problem for problem in listing["problems"])  # reported, not fatal
        assert "sk-config-secret" not in json.dumps(listing)
        assert "saved/echo-1" in {m["id"] for m in engine.list_models()}
        with pytest.raises(Conflict):
            service.update("cfg", {"models": ["x"]})
        t0 = time.perf_counter()
        result = service.test("saved")
        assert result["ok"] is True and result["answer"] == "".join(TOKENS), result
        assert result["total_s"] <= time.perf_counter() - t0 + 0.01
    finally:
        engine.close()
