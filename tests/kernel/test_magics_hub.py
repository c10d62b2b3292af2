"""%chat pull | hardware | catalog | roles in real kernels: against a real Jupyter server that pulls from
the stand-in Hub (tests/hub/standin_hub.py, 127.0.0.1), and in-process (no server)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kernel_harness import JupyterServer, Kernel, base_env, server_mode_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))
from standin_hub import GGUF_FILE, GGUF_REPO, StandinHub, packaged_gguf

COPY_REPO = "standin/copy-GGUF"
PULLED_ID = f"{GGUF_REPO.lower()}:{GGUF_FILE[: -len('.gguf')].lower()}"


def hub_env(hub: StandinHub, tmp: Path) -> dict[str, str]:
    """The stand-in Hub for a child process: online, no token, its own HF_HOME."""
    return {
        "HF_ENDPOINT": hub.url,
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HOME": str(tmp / "hf-home"),
        "HF_TOKEN": "",
    }


@pytest.fixture(scope="module")
def hub() -> Iterator[StandinHub]:
    with StandinHub() as standin:
        standin.add_packaged()
        standin.add_repo(
            COPY_REPO, {GGUF_FILE: packaged_gguf()}, tags=["gguf"], pipeline_tag="text-generation"
        )
        yield standin


@pytest.fixture(scope="module")
def hub_server(hub: StandinHub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    tmp = tmp_path_factory.mktemp("hub-server")
    root = tmp / "root"
    root.mkdir()
    server = JupyterServer(tmp, root, extra_env=hub_env(hub, tmp))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hub_kernel(hub_server: JupyterServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    with server_mode_kernel(hub_server, tmp_path_factory.mktemp("hub-kernel")) as kernel:
        yield kernel


def test_pull_in_a_kernel_lists_and_answers(hub_kernel: Kernel, hub_server: JupyterServer) -> None:
    res = hub_kernel.execute(f"%chat pull {GGUF_REPO}:{GGUF_FILE}", timeout=300)
    assert res.status == "ok", res.error_text + res.stderr
    assert f"as model '{PULLED_ID}'" in res.stdout
    models = {m["id"]: m for m in hub_server.get("models").json()["models"]}
    assert models[PULLED_ID]["source"] == "hub"
    # the pulled model is the chat role now, and answers a %%chat cell
    res = hub_kernel.execute(f"%chat roles chat {PULLED_ID}")
    assert res.status == "ok", res.error_text
    assert f"chat      {PULLED_ID}" in res.stdout
    res = hub_kernel.execute("%%chat --max-tokens 8 --seed 1 --no-history\nSay hi.", timeout=240)
    assert res.status == "ok", res.error_text
    assert hub_server.get("roles").json()["chat"] == PULLED_ID


def test_pull_refusals_are_one_red_line(hub_kernel: Kernel) -> None:
    res = hub_kernel.execute("%chat pull standin/no-such-repo:x.gguf")
    assert res.status == "error" and "no repository standin/no-such-repo" in res.error_text
    res = hub_kernel.execute("%chat pull not-a-catalog-id")
    assert res.status == "error" and "catalog id" in res.error_text


def test_hardware_catalog_and_roles(hub_kernel: Kernel) -> None:
    res = hub_kernel.execute("%chat hardware")
    assert res.status == "ok", res.error_text
    assert "CPU:" in res.stdout and "RAM:" in res.stdout and "llama.cpp" in res.stdout
    assert "suggested for this machine" in res.stdout and "chat" in res.stdout
    res = hub_kernel.execute(
        "_cat = %chat catalog\nprint(sorted(_cat.columns)); print(_cat['role'].unique().tolist())"
    )
    assert res.status == "ok", res.error_text
    assert "'fits'" in res.stdout and "'suggested'" in res.stdout and "'installed'" in res.stdout
    assert "'code'" in res.stdout and "'embedding'" in res.stdout
    res = hub_kernel.execute("%chat roles")
    assert res.status == "ok", res.error_text
    assert "inline" in res.stdout and "embedding" in res.stdout
    res = hub_kernel.execute("%chat roles embedding smollm2-135m-instruct")
    assert res.status == "error" and "embedding role takes" in res.error_text


def test_model_panel_pulls_with_progress(hub_kernel: Kernel) -> None:
    # driven as the browser drives it: the Pull button sends {"type": "pull", "target"}
    code = (
        "from jupyter_chat_ext.widgets import ModelPanel\n"
        "_p = ModelPanel(poll_s=0.1)\n"
        "_labels = []\n"
        "_p.observe(lambda ch: _labels.append(ch['new']), names='progress_label')\n"
        f"_p._dispatch(_p, {{'type': 'pull', 'target': '{COPY_REPO}:{GGUF_FILE}'}}, [])\n"
        "_p.wait(240)\n"
        "print(repr(_p.error), _p.progress, _p.pull_job.get('state'))\n"
        "_hub = [m['id'] for m in _p.models if m['source'] == 'hub']\n"
        "print(any('Pulling' in label for label in _labels), _hub)\n"
    )
    res = hub_kernel.execute(code, timeout=300)
    assert res.status == "ok", res.error_text
    first, second = res.stdout.strip().splitlines()[-2:]
    assert first == "'' 1.0 done", res.stdout
    assert second.startswith("True") and COPY_REPO.lower() in second


def test_interrupting_a_pull_cancels_its_job(
    hub: StandinHub, hub_kernel: Kernel, hub_server: JupyterServer
) -> None:
    hub.add_repo("standin/slow-GGUF", {GGUF_FILE: packaged_gguf()}, tags=["gguf"])
    hub.throttle_bps = 1_000_000  # ~100 s for the file: the interrupt comes mid-transfer

    def slow_job() -> dict | None:
        jobs = hub_server.get("jobs", params={"kind": "pull"}).json()["jobs"]
        return next((j for j in jobs if j.get("repo") == "standin/slow-GGUF"), None)

    interrupted: list[bool] = []

    def on_message(msg: dict) -> None:  # once the job runs, press "interrupt the kernel"
        if interrupted:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = slow_job()
            if job is not None and job["state"] == "running" and (job.get("bytes_done") or 0) > 0:
                hub_kernel.interrupt()
                interrupted.append(True)
                return
            time.sleep(0.2)

    try:
        res = hub_kernel.execute(
            f"%chat pull standin/slow-GGUF:{GGUF_FILE}", timeout=300, on_message=on_message
        )
        assert interrupted and res.status == "error" and "stopped: its job is cancelled" in res.error_text
        deadline = time.monotonic() + 60
        while (job := slow_job())["state"] not in (
            "cancelled",
            "failed",
            "done",
        ) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert job["state"] == "cancelled" and "resume" in job["actions"], job
        # the cancelled transfer's connection closes at its next chunk: wait until nothing more is sent
        # (lifting the throttle while it is still open would let the stand-in push the rest into it)
        last, still = -1, time.monotonic()
        while time.monotonic() - still < 2 and time.monotonic() < deadline + 60:
            if hub.bytes_sent != last:
                last, still = hub.bytes_sent, time.monotonic()
            time.sleep(0.2)
        hub.throttle_bps = None
        hub.reset_counters()
        res = hub_kernel.execute(f"%chat pull standin/slow-GGUF:{GGUF_FILE}", timeout=300)
        assert res.status == "ok", res.error_text
        size = hub.repos["standin/slow-GGUF"].files[GGUF_FILE].size
        ranges = [r for method, path, r in hub.requests if method == "GET" and "/resolve/" in path]
        assert ranges and ranges[0] and not ranges[0].startswith("bytes=0-"), ranges  # resumed mid-file
        assert 0 < hub.bytes_sent < size, (hub.bytes_sent, size)  # only the missing bytes were sent
    finally:
        hub.throttle_bps = None


def test_pull_in_process_without_a_server(hub: StandinHub, tmp_path: Path) -> None:
    env = base_env(tmp_path, JUPYTER_CHAT_EXT_MODE="local", **hub_env(hub, tmp_path))
    kernel = Kernel(env, cwd=tmp_path)
    try:
        res = kernel.execute("%load_ext jupyter_chat_ext")
        assert res.status == "ok", res.error_text
        res = kernel.execute(f"%chat pull {GGUF_REPO}:{GGUF_FILE}", timeout=300)
        assert res.status == "ok", res.error_text + res.stderr
        assert PULLED_ID in res.stdout
        res = kernel.execute("_m = %chat models\nprint(_m[_m['source'] == 'hub']['id'].tolist())")
        assert res.status == "ok" and PULLED_ID in res.stdout, res.all_text()
    finally:
        kernel.shutdown()
