"""Pull from the stand-in Hub into a real Core: listed (source hub), loads, answers; verified; cancelled.

Real parts: the Core (DuckDB, LanceDB, the engine with llama.cpp), huggingface_hub's own HTTP client
against the stand-in Hub on 127.0.0.1 serving the packaged GGUF and embedding folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from standin_hub import EMBED_REPO, GGUF_FILE, GGUF_REPO, packaged_gguf

from jupyter_chat_ext.core import build_core
from jupyter_chat_ext.engine.registry import PACKAGED_CHAT_ID
from jupyter_chat_ext.errors import Conflict, Forbidden
from jupyter_chat_ext.hub import pull_store
from jupyter_chat_ext.hub.pull_jobs import delete_pulled, start_pull
from jupyter_chat_ext.settings import Settings

SAY = [{"role": "user", "content": "Name a colour."}]
GREEDY = {"max_tokens": 8, "temperature": 0, "seed": 1}


@pytest.fixture
def core(tmp_path: Path) -> Iterator:
    # cpu_requant off: the answer below comes from the pulled bytes as they are, like the packaged one's
    built = build_core(Settings(data_dir=tmp_path / "data", cpu_requant=False))
    yield built
    built.close()


def test_pull_gguf_is_listed_loads_and_answers_like_the_packaged_file(standin_hub, core) -> None:
    job, joined = start_pull(core.settings, core.jobs, GGUF_REPO, GGUF_FILE)
    assert not joined and job["kind"] == "pull" and job["state"] in ("queued", "running")
    assert job["repo"] == GGUF_REPO and job["file"] == GGUF_FILE and len(job["revision"]) == 40
    done = core.jobs.wait(job["id"], timeout=300)
    size = packaged_gguf().stat().st_size
    assert done["state"] == "done" and done["actions"] == [], done
    assert done["bytes_done"] == done["bytes_total"] == size and done["progress"] == 1.0
    model_id = done["model_id"]
    assert model_id == pull_store.pulled_model_id(GGUF_REPO, GGUF_FILE)
    assert standin_hub.bytes_sent == size  # one pass, nothing fetched twice

    listed = {m["id"]: m for m in core.engine.list_models()}
    pulled = listed[model_id]
    assert (pulled["source"], pulled["format"], pulled["kind"]) == ("hub", "gguf", "chat")
    assert (pulled["repo"], pulled["file"]) == (GGUF_REPO, GGUF_FILE) and pulled["size_bytes"] == size
    assert pulled["backend"] == "llamacpp"

    answer = core.engine.generate(model_id, SAY, GREEDY)
    reference = core.engine.generate(PACKAGED_CHAT_ID, SAY, GREEDY)
    assert answer["text"].strip() and answer["text"] == reference["text"]
    assert [e["state"] for e in core.jobs.list("pull")] == ["done"] and core.jobs.list("ingest") == []

    # pulled again at the same revision: refused, nothing written
    with pytest.raises(Conflict) as refused:
        start_pull(core.settings, core.jobs, GGUF_REPO, GGUF_FILE)
    assert refused.value.code == "already_pulled" and len(core.jobs.list("pull")) == 1

    # delete: unloaded, files gone, no longer listed; packaged models are refused
    with pytest.raises(Forbidden):
        delete_pulled(core.settings, core.engine, core.jobs, PACKAGED_CHAT_ID)
    assert delete_pulled(core.settings, core.engine, core.jobs, model_id) == {"deleted": model_id}
    assert model_id not in {m["id"] for m in core.engine.list_models()}
    assert not pull_store.model_dir(core.settings.hub_dir, model_id).exists()


def test_pull_embedding_folder_is_usable_as_the_embedding_model(standin_hub, tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    built = build_core(settings)
    try:
        job, _ = start_pull(settings, built.jobs, EMBED_REPO)
        done = built.jobs.wait(job["id"], timeout=300)
        assert done["state"] == "done", done
        model_id = done["model_id"]
        assert model_id == EMBED_REPO.lower() and done["file"] is None
        info = built.engine.get_model(model_id)
        assert (info["source"], info["format"], info["kind"]) == ("hub", "hf", "embedding")
        folder = Path(info["path"])
        assert (folder / "model.safetensors").is_file() and (folder / "1_Pooling" / "config.json").is_file()
        assert not (folder / "README.md").exists()  # only what a folder load needs
        reference = built.engine.embed(["a lighthouse keeper"])
    finally:
        built.close()
    again = build_core(Settings(data_dir=tmp_path / "data", embedding_model=model_id))
    try:
        assert again.engine.embedder.model_id == model_id
        vectors = again.engine.embed(["a lighthouse keeper"])
        assert np.allclose(np.asarray(vectors), np.asarray(reference), atol=1e-5)
        with pytest.raises(Conflict) as in_use:  # the embedding model is not deleted under RAG's feet
            delete_pulled(again.settings, again.engine, again.jobs, model_id)
        assert in_use.value.code == "model_in_use"
    finally:
        again.close()


def test_corrupt_bytes_fail_checksum_mismatch_and_leave_nothing(standin_hub, core) -> None:
    standin_hub.corrupt = True
    job, _ = start_pull(core.settings, core.jobs, GGUF_REPO, GGUF_FILE)
    done = core.jobs.wait(job["id"], timeout=300)
    assert done["state"] == "failed" and done["error"]["code"] == "checksum_mismatch", done
    assert done["actions"] == ["resume"] and done["model_id"] is None
    model_id = pull_store.pulled_model_id(GGUF_REPO, GGUF_FILE)
    assert model_id not in {m["id"] for m in core.engine.list_models()}
    hub_dir = Path(core.settings.hub_dir)
    assert [p for p in hub_dir.rglob("*") if p.is_file()] == []  # the bad bytes are deleted

    standin_hub.corrupt = False  # the mirror is fixed: resuming the failed job pulls it right
    core.jobs.resume(job["id"])
    assert core.jobs.wait(job["id"], timeout=300)["state"] == "done"
    assert model_id in {m["id"] for m in core.engine.list_models()}


def test_cancel_stops_the_transfer_and_resume_goes_on_from_the_bytes_on_disk(standin_hub, core) -> None:
    size = packaged_gguf().stat().st_size
    standin_hub.pause_after(size // 3)
    job, _ = start_pull(core.settings, core.jobs, GGUF_REPO, GGUF_FILE)
    joined, was_joined = start_pull(core.settings, core.jobs, GGUF_REPO, GGUF_FILE)
    assert was_joined and joined["id"] == job["id"]
    deadline = time.monotonic() + 120
    while standin_hub.bytes_sent < size // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert core.jobs.get(job["id"])["state"] == "running"
    cancelled = core.jobs.cancel(job["id"])
    assert cancelled["cancel_requested"] is True
    # the stand-in still stalls the body: the job ends anyway, its transfer thread stops later
    ended = core.jobs.wait(job["id"], timeout=120)
    assert ended["state"] == "cancelled" and ended["actions"] == ["resume"], ended
    standin_hub.release()
    sent_before = standin_hub.bytes_sent
    assert sent_before < size  # it stopped before the end of the file

    core.jobs.resume(job["id"])
    done = core.jobs.wait(job["id"], timeout=300)
    assert done["state"] == "done" and done["attempts"] == 2, done
    assert standin_hub.bytes_sent < 1.6 * size  # resumed with a Range, not from zero
    assert any(r[2] for r in standin_hub.requests if r[0] == "GET" and "resolve" in r[1])
    model_id = done["model_id"]
    assert Path(core.engine.get_model(model_id)["path"]).stat().st_size == size


def test_a_split_gguf_pulls_every_part_and_junk_is_not_listed(standin_hub, core) -> None:
    head = packaged_gguf().read_bytes()[:20_000_000]  # part 1 carries the real GGUF header
    parts = {"tiny-00001-of-00002.gguf": head, "tiny-00002-of-00002.gguf": b"\1" * 4096}
    standin_hub.add_repo(
        "standin/split-GGUF", {**parts, "junk.gguf": b"not a gguf at all" * 100}, tags=["gguf"]
    )
    job, _ = start_pull(core.settings, core.jobs, "standin/split-GGUF", "tiny-00001-of-00002.gguf")
    assert job["bytes_total"] == sum(len(b) for b in parts.values())
    done = core.jobs.wait(job["id"], timeout=300)
    assert done["state"] == "done" and done["model_id"] == "standin/split-gguf:tiny", done
    folder = Path(core.engine.get_model("standin/split-gguf:tiny")["path"]).parent
    assert sorted(p.name for p in folder.glob("*.gguf")) == sorted(parts)

    job, _ = start_pull(core.settings, core.jobs, "standin/split-GGUF", "junk.gguf")
    failed = core.jobs.wait(job["id"], timeout=300)
    assert failed["state"] == "failed" and failed["error"]["code"] == "model_missing", failed
    assert "standin/split-gguf:junk" not in {m["id"] for m in core.engine.list_models()}
    assert not pull_store.model_dir(core.settings.hub_dir, "standin/split-gguf:junk").exists()
