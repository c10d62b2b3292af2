"""Fixtures for the kernel-side tests: a real Jupyter server and real kernels in both modes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kernel_harness import JupyterServer, Kernel, base_env, server_mode_kernel


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """A real ``jupyter server`` hosting the extension, default model loaded."""
    tmp = tmp_path_factory.mktemp("jupyter-server")
    root = tmp / "root"
    root.mkdir()
    server = JupyterServer(tmp, root)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def local_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """A kernel with the extension loaded, running the core in-process (JUPYTER_CHAT_EXT_MODE=local)."""
    tmp = tmp_path_factory.mktemp("local-kernel")
    kernel = Kernel(base_env(tmp, JUPYTER_CHAT_EXT_MODE="local"), cwd=tmp)
    try:
        res = kernel.execute("%load_ext jupyter_chat_ext")
        assert res.status == "ok", res.error_text
        yield kernel
    finally:
        kernel.shutdown()


@pytest.fixture(scope="module")
def server_kernel(
    jupyter_server: JupyterServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Kernel]:
    """A kernel pointed at the real server with JUPYTER_CHAT_EXT_URL / _TOKEN."""
    with server_mode_kernel(jupyter_server, tmp_path_factory.mktemp("server-kernel")) as kernel:
        yield kernel


@pytest.fixture
def local_service(settings, engine) -> Iterator:
    """The in-process client over a fresh data dir and the session's shared, loaded engine."""
    from jupyter_chat_ext.kernel.local_service import LocalService

    service = LocalService(settings, engine=engine)
    yield service
    service.close()
