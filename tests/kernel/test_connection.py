"""Choosing the client: explicit env, runtime-file discovery, the in-process fallback, typed errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jupyter_chat_ext.errors import Busy, ChatExtError, InvalidInput, NotFound, Unavailable
from jupyter_chat_ext.kernel.connection import HOW_TO_START, connect, requested_mode
from jupyter_chat_ext.kernel.discovery import ServerInfo, running_servers
from jupyter_chat_ext.kernel.http_client import error_from_response
from jupyter_chat_ext.kernel.local_service import LocalService


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("JUPYTER_CHAT_EXT_DATA_DIR", str(tmp_path / "data"))
    for key in ("JUPYTER_CHAT_EXT_URL", "JUPYTER_CHAT_EXT_TOKEN", "JUPYTER_CHAT_EXT_MODE"):
        monkeypatch.delenv(key, raising=False)
    return runtime


def test_mode_comes_from_the_environment(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert requested_mode() == "auto"
    monkeypatch.setenv("JUPYTER_CHAT_EXT_MODE", " Local ")
    assert requested_mode() == "local"
    monkeypatch.setenv("JUPYTER_CHAT_EXT_MODE", "cloud")
    with pytest.raises(InvalidInput, match="must be one of auto, server, local"):
        requested_mode()


def test_auto_without_a_server_runs_in_process(isolated: Path, tmp_path: Path) -> None:
    client = connect()
    try:
        assert isinstance(client, LocalService)
        assert client.describe()["data_dir"] == str(tmp_path / "data")
        assert (tmp_path / "data" / "chat.duckdb").exists()
    finally:
        client.close()


def test_server_mode_without_a_server_explains_how_to_start_one(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_CHAT_EXT_URL", "http://127.0.0.1:9/")
    with pytest.raises(Unavailable) as info:
        connect("server")
    assert HOW_TO_START in info.value.message and "http://127.0.0.1:9/" in info.value.message


def test_a_store_held_by_another_process_is_unavailable_not_a_crash(isolated: Path, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(tmp_path / "data" / "chat.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(Unavailable) as info:
            connect("local")
        assert "in use by another process" in info.value.message
        assert "JUPYTER_CHAT_EXT_MODE=server" in info.value.message
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def _runtime_file(runtime: Path, name: str, root: Path, port: int) -> None:
    info = {
        "url": f"http://127.0.0.1:{port}/",
        "token": f"token-{name}",
        "root_dir": str(root),
        "pid": os.getpid(),  # a live process, as list_running_servers requires
        "port": port,
        "secure": False,
        "sock": "",
        "base_url": "/",
        "hostname": "127.0.0.1",
        "password": False,
        "version": "2.0",
    }
    (runtime / f"jpserver-{name}.json").write_text(json.dumps(info))


def test_servers_whose_root_holds_the_cwd_come_first(isolated: Path, tmp_path: Path) -> None:
    outer, inner, elsewhere = tmp_path / "w", tmp_path / "w" / "project", tmp_path / "other"
    for d in (outer, inner / "nb", elsewhere):
        d.mkdir(parents=True, exist_ok=True)
    _runtime_file(isolated, "a", elsewhere, 1001)
    _runtime_file(isolated, "b", outer, 1002)
    _runtime_file(isolated, "c", inner, 1003)
    ranked = running_servers(cwd=inner / "nb")
    assert [s.token for s in ranked] == ["token-c", "token-b", "token-a"]
    assert ranked[0].api_url == "http://127.0.0.1:1003/chat-ext/"
    assert ranked[0].headers() == {"Authorization": "token token-c"}


def test_server_urls_are_normalised() -> None:
    assert ServerInfo("http://h:1/base").url == "http://h:1/base/"
    assert ServerInfo("http://h:1/base/chat-ext/").url == "http://h:1/base/"
    assert ServerInfo("http://h:1/").api_url == "http://h:1/chat-ext/"


def _response(status: int, body: object, content_type: str = "application/json") -> httpx.Response:
    content = json.dumps(body).encode() if content_type == "application/json" else str(body).encode()
    return httpx.Response(
        status,
        content=content,
        headers={"content-type": content_type},
        request=httpx.Request("GET", "http://h/chat-ext/x"),
    )


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, InvalidInput), (404, NotFound), (429, Busy), (503, Unavailable), (500, ChatExtError)],
)
def test_http_errors_become_typed_errors(status: int, cls: type) -> None:
    err = error_from_response(
        _response(status, {"error": {"code": "some_code", "message": "what went wrong"}})
    )
    assert type(err) is cls
    assert err.code == "some_code" and err.message == "what went wrong"


def test_non_json_errors_still_say_what_failed() -> None:
    err = error_from_response(_response(404, "<html>nope</html>", content_type="text/html"))
    assert isinstance(err, NotFound) and "HTTP 404" in err.message
