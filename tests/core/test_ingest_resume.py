"""Ingest jobs survive kill -9, resume without duplicates, cancel between batches, persist on disk.

Real parts: a child Python process running RagService.start_ingest (killed with SIGKILL), real LanceDB
folders in tmp dirs, the packaged MiniLM embedder.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from test_ingest_support import kill_after, make_corpus, start_child

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.errors import Conflict, NotFound, PayloadTooLarge
from jupyter_chat_ext.rag.service import RagService
from jupyter_chat_ext.settings import Settings

BATCH = 12


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus") / "docs")


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, corpus: Path) -> dict:
    """The reference: one uninterrupted ingest of the corpus (rows as (path, index, hash))."""
    rag = RagService(Settings(data_dir=tmp_path_factory.mktemp("clean")), embedder, batch_chunks=BATCH)
    try:
        rag.create_collection("kb")
        report = rag.ingest("kb", [corpus])
        return {"report": report, "rows": rows_of(rag)}
    finally:
        rag.close()


def rows_of(rag: RagService) -> list[tuple[str, int, str]]:
    arrow = (
        rag.index.table("kb").search().select(["path", "chunk_index", "chunk_hash"]).limit(None).to_arrow()
    )
    return sorted(zip(*(arrow[c].to_pylist() for c in ("path", "chunk_index", "chunk_hash")), strict=True))


def test_kill_9_mid_ingest_then_resume_matches_a_clean_run(tmp_path: Path, embedder, corpus, clean_run):
    clean = clean_run["report"]
    assert clean.chunks > 4 * BATCH and clean.batches > 4  # the kill lands between commits
    data_dir = tmp_path / "data"
    child = start_child(data_dir, corpus, BATCH)
    seen = kill_after(child, min_chunks=2 * BATCH)
    assert seen["killed"], (seen, child.stderr.read() if child.stderr else "")
    assert seen["max_pending"] <= BATCH  # what a kill can lose: at most one batch

    # the job file says "running", its process is gone: a new service reads it as interrupted
    record = json.loads((data_dir / "jobs" / f"{seen['id']}.json").read_text())
    assert record["state"] == "running" and record["chunks"] >= 2 * BATCH
    rag = RagService(Settings(data_dir=data_dir), embedder, batch_chunks=BATCH)
    try:
        job = rag.get_job(seen["id"])
        assert job["state"] == "interrupted" and job["actions"] == ["resume"]
        assert seen["id"] in rag.jobs.recovered
        committed = len(rows_of(rag))
        assert 2 * BATCH <= committed < clean.chunks
        assert committed >= job["chunks"]  # a commit may land just before its record is written

        rag.resume_job(seen["id"])
        done = rag.jobs.wait(seen["id"], timeout=300)
        assert done["state"] == "done", done
        report = done["report"]
        # nothing committed before the kill was embedded again, nothing is missing or doubled
        assert report["embedded"] == clean.chunks - committed
        assert report["files_unchanged"] > 0 and report["files_new"] < clean.files_new
        assert rows_of(rag) == clean_run["rows"]
        assert rag.get_collection("kb")["chunks"] == clean.chunks
        assert done["attempts"] == 2 and done["chunks"] == clean.chunks
        with pytest.raises(Conflict):
            rag.resume_job(seen["id"])  # a finished job does not resume
    finally:
        rag.close()


def test_cancel_commits_what_was_gathered_and_resume_completes(settings, embedder, corpus, clean_run):
    rag = RagService(settings, embedder, batch_chunks=BATCH)
    try:
        rag.create_collection("kb")
        calls = []

        def stop_after_three_files() -> bool:
            calls.append(1)
            return len(calls) > 3

        report = rag.ingest("kb", [corpus], should_stop=stop_after_three_files)
        assert report.cancelled and report.files_done == 3
        assert 0 < report.chunks == len(rows_of(rag)) < clean_run["report"].chunks
        assert report.files_deleted == 0  # an unfinished walk deletes nothing
        again = rag.ingest("kb", [corpus])
        assert again.files_unchanged == 3 and again.embedded == clean_run["report"].chunks - report.chunks
        assert rows_of(rag) == clean_run["rows"]
    finally:
        rag.close()


def test_cancel_and_resume_a_job(settings, embedder, corpus, clean_run):
    rag = RagService(settings, embedder, batch_chunks=BATCH)
    try:
        rag.create_collection("kb")
        lock = rag.index.write_lock("kb")
        lock.acquire()  # the job starts, then waits for the collection: cancel lands while it runs
        try:
            job = rag.start_ingest("kb", [corpus])
            assert job["actions"] == ["cancel"]
            cancelled = rag.cancel_job(job["id"])
            assert cancelled["cancel_requested"] is True
        finally:
            lock.release()
        ended = rag.jobs.wait(job["id"], timeout=120)
        assert ended["state"] == "cancelled" and ended["actions"] == ["resume"]
        assert ended["report"]["cancelled"] is True
        with pytest.raises(Conflict):
            rag.cancel_job(job["id"])
        with pytest.raises(NotFound):
            rag.cancel_job("0" * 32)

        resumed = rag.resume_job(job["id"])
        assert resumed["state"] in ("queued", "running", "done")
        done = rag.jobs.wait(job["id"], timeout=300)
        assert done["state"] == "done" and rows_of(rag) == clean_run["rows"]

        # records outlive the service: a new one over the same data dir lists the job as it ended
        rag.close()
        again = RagService(settings, embedder, batch_chunks=BATCH)
        try:
            listed = {j["id"]: j for j in again.list_jobs()}
            assert listed[job["id"]]["state"] == "done"
            assert listed[job["id"]]["chunks"] == clean_run["report"].chunks
            assert "params" not in listed[job["id"]] and "done_files" not in listed[job["id"]]
        finally:
            again.close()
    finally:
        rag.close()


def test_close_interrupts_a_running_job_and_a_queued_one(settings, embedder, corpus):
    rag = RagService(settings, embedder, batch_chunks=BATCH)
    rag.create_collection("kb")
    lock = rag.index.write_lock("kb")
    lock.acquire()
    first = rag.start_ingest("kb", [corpus])
    second = rag.start_ingest("kb", [corpus])
    closer = threading.Thread(target=rag.close)  # close() waits for the running job to stop
    closer.start()
    while not rag.jobs.closing:
        time.sleep(0.01)
    lock.release()  # the blocked job goes on, sees the stop flag before its first file
    closer.join(timeout=120)
    assert not closer.is_alive()
    again = RagService(settings, embedder, batch_chunks=BATCH)
    try:
        states = {j["id"]: j["state"] for j in again.list_jobs()}
        assert states == {first["id"]: "interrupted", second["id"]: "interrupted"}
    finally:
        again.close()


def test_upload_is_a_job(settings, embedder, tmp_path: Path):
    rag = RagService(settings, embedder)
    try:
        rag.create_collection("kb")
        job = rag.start_upload("kb", "soup.md", b"# Soup\n\nLeek and potato soup needs butter.\n")
        assert job["kind"] == "upload" and job["paths"][0].endswith("soup.md")
        done = rag.jobs.wait(job["id"], timeout=120)
        assert done["state"] == "done" and done["chunks"] == 1
        assert rag.search("kb", "leek soup", k=1)[0]["source"].endswith("soup.md")
        # a spooled request body is passed by path (copied in blocks, never read whole)
        body = tmp_path / "spooled-body"
        body.write_bytes(b"# Bread\n\nSourdough needs a starter fed daily.\n")
        job = rag.start_upload("kb", "bread.md", body, max_bytes=1024)
        assert rag.jobs.wait(job["id"], timeout=120)["state"] == "done"
        assert rag.search("kb", "sourdough starter", k=1)[0]["source"].endswith("bread.md")
        with pytest.raises(PayloadTooLarge):
            rag.start_upload("kb", "bread.md", body, max_bytes=16)
    finally:
        rag.close()
