"""POST /chat-ext/models/pull, the jobs routes with ?kind=, DELETE /chat-ext/models/{id}, on a real server.

Every refusal is a JSON error with its status and code, and leaves nothing behind: no job, no file
under hub_dir. The 507 comes from the ``hub_reserve_bytes`` setting (the free space a pull must
leave), raised past the disk's size; the free-disk probe itself is the real one.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from server_testlib import assert_error, on_jp_loop
from standin_hub import EMBED_REPO, GATED_REPO, GGUF_FILE, GGUF_REPO, PICKLE_REPO, packaged_gguf


async def wait_job(api, job_id: str, timeout_s: float = 300) -> dict:
    for _ in range(int(timeout_s * 10)):
        job = (await api.get("jobs", job_id)).json
        if job["state"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError(f"the pull did not end: {job}")


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


async def refused(api, core, body: dict, status: int, code: str) -> dict:
    err = assert_error(await api.post("models", "pull", body=body), status, code)
    assert (await api.get("jobs", params={"kind": "pull"})).json["jobs"] == []
    assert files_under(Path(core.settings.hub_dir)) == []
    return err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@on_jp_loop
async def test_refusals_write_nothing(api, chat_app, standin_hub, monkeypatch):
    core = await chat_app.core()
    await refused(api, core, {}, 400, "invalid_input")
    await refused(api, core, {"repo": "no-slash"}, 400, "invalid_value")
    await refused(api, core, {"repo": GGUF_REPO, "file": "../../etc/passwd"}, 400, "invalid_value")
    await refused(api, core, {"repo": "nobody/nothing", "file": "x.gguf"}, 404, "repo_not_found")
    await refused(api, core, {"repo": GGUF_REPO, "file": "missing.Q4_K_M.gguf"}, 404, "file_not_found")
    await refused(
        api, core, {"repo": GGUF_REPO, "file": GGUF_FILE, "revision": "v9"}, 404, "revision_not_found"
    )
    err = await refused(api, core, {"repo": GATED_REPO, "file": GGUF_FILE}, 403, "gated_repo")
    assert "HF_TOKEN" in err["message"]
    await refused(api, core, {"repo": PICKLE_REPO}, 415, "unsupported_model_format")
    await refused(api, core, {"repo": GGUF_REPO, "file": "README.md"}, 415, "unsupported_model_format")
    err = await refused(api, core, {"repo": GGUF_REPO}, 415, "unsupported_model_format")
    assert GGUF_FILE in err["message"]  # a GGUF repo pulled as a folder names a file to pull instead

    core.settings.hub_reserve_bytes = 1 << 62  # more than any disk: the pull must not start
    err = await refused(api, core, {"repo": GGUF_REPO, "file": GGUF_FILE}, 507, "storage_full")
    assert "GB" in err["message"]
    core.settings.hub_reserve_bytes = 0

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    err = await refused(api, core, {"repo": GGUF_REPO, "file": GGUF_FILE}, 503, "hub_unreachable")
    assert "HF_HUB_OFFLINE" in err["message"]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")  # nothing listens there
    await refused(api, core, {"repo": GGUF_REPO, "file": GGUF_FILE}, 503, "hub_unreachable")
    assert standin_hub.bytes_sent == 0


@on_jp_loop
async def test_pull_join_list_load_answer_delete(api, chat_app, standin_hub):
    size = packaged_gguf().stat().st_size
    standin_hub.throttle_bps = size / 4  # about 4 s: the second request lands while it runs
    first = await api.post("models", "pull", body={"repo": GGUF_REPO, "file": GGUF_FILE})
    assert first.code == 202 and first.json["joined"] is False, first.body
    job = first.json["job"]
    assert job["kind"] == "pull" and job["actions"] == ["cancel"] and job["bytes_total"] == size
    second = await api.post("models", "pull", body={"repo": GGUF_REPO, "file": GGUF_FILE})
    assert second.code == 202 and second.json["joined"] is True and second.json["job"]["id"] == job["id"]
    running = (await api.get("jobs", job["id"])).json
    assert running["state"] in ("queued", "running", "done")
    standin_hub.throttle_bps = None
    done = await wait_job(api, job["id"])
    assert done["state"] == "done" and done["progress"] == 1.0 and done["bytes_done"] == size, done
    assert done["rate"] > 0 and done["eta_s"] == 0
    model_id = done["model_id"]

    assert [j["id"] for j in (await api.get("jobs", params={"kind": "pull"})).json["jobs"]] == [job["id"]]
    assert (await api.get("jobs", params={"kind": "ingest"})).json["jobs"] == []
    assert_error(await api.get("jobs", params={"kind": "bogus"}), 400)
    listed = {m["id"]: m for m in (await api.get("models")).json["models"]}
    assert listed[model_id]["source"] == "hub" and listed[model_id]["repo"] == GGUF_REPO

    reply = await api.post("models", model_id, "load")
    assert reply.code == 202, reply.body
    answer = await api.post(
        "v1",
        "chat",
        "completions",
        body={
            "model": model_id,
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 8,
            "temperature": 0,
        },
    )
    assert answer.code == 200 and answer.json["choices"][0]["message"]["content"], answer.body

    assert_error(
        await api.post("models", "pull", body={"repo": GGUF_REPO, "file": GGUF_FILE}), 409, "already_pulled"
    )
    assert_error(await api.delete("models", "smollm2-135m-instruct"), 403, "model_not_deletable")
    assert_error(await api.delete("models", "nobody/nothing:x"), 404)
    reply = await api.delete("models", model_id)
    assert reply.code == 200 and reply.json == {"deleted": model_id}, reply.body
    assert model_id not in {m["id"] for m in (await api.get("models")).json["models"]}
    assert files_under(Path((await chat_app.core()).settings.hub_dir)) == []


@on_jp_loop
async def test_jobs_answer_without_rag(api, chat_app, standin_hub):
    core = await chat_app.core()
    core.rag, core.rag_error = None, "RAG not available: switched off by the test"
    reply = await api.post("models", "pull", body={"repo": EMBED_REPO})
    assert reply.code == 202, reply.body
    done = await wait_job(api, reply.json["job"]["id"])
    assert done["state"] == "done" and done["model_id"] == EMBED_REPO.lower(), done
    assert (await api.get("jobs")).code == 200
    assert_error(await api.get("collections"), 503)
