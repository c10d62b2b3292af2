"""``%chat provider add|list|edit|test|remove`` in real kernels, in-process and against a real
Jupyter server, with a stand-in OpenAI-compatible endpoint on 127.0.0.1 (tests/server/openai_standin.py).
The key is named by an environment variable (typing a key into a cell would save it in the notebook)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kernel_harness import JupyterServer, Kernel, base_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
from openai_standin import standin

KEY = "sk-kernel-standin-0b1c"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with standin(KEY) as (url, _server):
        yield url


def kernel_env(tmp: Path, **extra: str) -> dict[str, str]:
    return base_env(
        tmp, JUPYTER_CHAT_EXT_PROVIDERS_FILE=str(tmp / "providers.json"), STANDIN_KEY=KEY, **extra
    )


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kernel, Path]]:
    tmp = tmp_path_factory.mktemp("providers-local")
    kernel = Kernel(kernel_env(tmp, JUPYTER_CHAT_EXT_MODE="local"), cwd=tmp)
    try:
        assert kernel.execute("%load_ext jupyter_chat_ext").status == "ok"
        yield kernel, tmp / "providers.json"
    finally:
        kernel.shutdown()


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kernel, JupyterServer, Path]]:
    tmp = tmp_path_factory.mktemp("providers-server")
    root = tmp / "root"
    root.mkdir()
    providers = tmp / "server-providers.json"
    server = JupyterServer(
        tmp, root, extra_env={"JUPYTER_CHAT_EXT_PROVIDERS_FILE": str(providers), "STANDIN_KEY": KEY}
    )
    try:
        server.wait_ready()
        env = kernel_env(
            tmp,
            JUPYTER_CHAT_EXT_URL=server.url,
            JUPYTER_CHAT_EXT_TOKEN=server.token,
            JUPYTER_CHAT_EXT_MODE="server",
        )
        kernel = Kernel(env, cwd=root)
        try:
            assert kernel.execute("%load_ext jupyter_chat_ext").status == "ok"
            yield kernel, server, providers
        finally:
            kernel.shutdown()
    finally:
        server.stop()


def round_trip(kernel: Kernel, url: str, providers: Path) -> None:
    res = kernel.execute(f"%chat provider add standin {url} --key-env STANDIN_KEY")
    assert res.status == "ok", res.error_text
    assert "added provider standin" in res.stdout and "key: env" in res.stdout
    saved = json.loads(providers.read_text())["providers"]
    assert [(p["name"], p["api_key_env"]) for p in saved] == [("standin", "STANDIN_KEY")]

    res = kernel.execute("_p = %chat provider list\nprint(_p[['name', 'key', 'key_set']].to_dict('records'))")
    assert res.status == "ok", res.error_text
    assert "{'name': 'standin', 'key': 'env', 'key_set': True}" in res.stdout

    res = kernel.execute("%chat provider test standin")
    assert res.status == "ok", res.error_text
    assert "standin: OK" in res.stdout and "echo-1 answered: 'Hello from the stand-in.'" in res.stdout
    assert "first token after" in res.stdout

    res = kernel.execute("%chat provider edit standin --models echo-1,echo-2")
    assert res.status == "ok", res.error_text
    assert json.loads(providers.read_text())["providers"][0]["models"] == ["echo-1", "echo-2"]

    res = kernel.execute("%chat provider remove standin")
    assert res.status == "ok" and "removed provider standin" in res.stdout
    assert json.loads(providers.read_text())["providers"] == []

    # mistakes are one red line with the usage
    res = kernel.execute("%chat provider add nourl")
    assert res.status == "error" and "BASE_URL or a --preset" in res.error_text + res.stderr
    res = kernel.execute("%chat provider remove nope")
    assert res.status == "error" and "no provider 'nope'" in res.error_text + res.stderr
    assert KEY not in providers.read_text()


def test_provider_commands_in_process(local: tuple[Kernel, Path], endpoint: str) -> None:
    kernel, providers = local
    round_trip(kernel, endpoint, providers)


def test_provider_commands_against_the_server(
    remote: tuple[Kernel, JupyterServer, Path], endpoint: str
) -> None:
    kernel, server, providers = remote
    res = kernel.execute("%chat provider add lmstudio --preset lmstudio")
    assert res.status == "ok", res.error_text
    listed = server.get("providers").json()["providers"]
    assert [(p["name"], p["base_url"], p["preset"]) for p in listed] == [
        ("lmstudio", "http://localhost:1234/v1", "lmstudio")
    ]
    assert kernel.execute("%chat provider remove lmstudio").status == "ok"
    round_trip(kernel, endpoint, providers)
