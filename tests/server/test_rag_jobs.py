"""Ingest job routes: list, cancel a running job, resume it, refusals with fitting statuses."""

from __future__ import annotations

import asyncio

from server_testlib import assert_error, on_jp_loop


async def _wait_job(api, job_id: str) -> dict:
    for _ in range(1200):
        job = (await api.get("jobs", job_id)).json
        if job["state"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError("the ingest job did not end")


@on_jp_loop
async def test_cancel_resume_and_list_jobs(api, chat_app, jp_root_dir):
    notes = jp_root_dir / "notes"
    notes.mkdir()
    for i in range(3):
        (notes / f"n{i}.md").write_text(f"# Note {i}\n\nThe kettle number {i} is blue.\n")
    assert (await api.post("collections", body={"name": "office"})).code == 201
    rag = (await chat_app.core()).rag

    lock = rag.index.write_lock("office")
    lock.acquire()  # the job starts and waits for the collection: a cancel lands while it runs
    try:
        reply = await api.post("collections", "office", "documents", body={"paths": ["notes"]})
        assert reply.code == 202 and reply.json["actions"] == ["cancel"]
        job_id = reply.json["id"]
        reply = await api.post("jobs", job_id, "cancel")
        assert reply.code == 200 and reply.json["cancel_requested"] is True
    finally:
        lock.release()
    job = await _wait_job(api, job_id)
    assert job["state"] == "cancelled" and job["actions"] == ["resume"], job
    assert_error(await api.post("jobs", job_id, "cancel"), 409, "job_finished")

    reply = await api.post("jobs", job_id, "resume")
    assert reply.code == 202 and reply.json["id"] == job_id
    job = await _wait_job(api, job_id)
    assert job["state"] == "done" and job["chunks"] == 3 and job["attempts"] == 2, job
    assert_error(await api.post("jobs", job_id, "resume"), 409, "job_not_resumable")

    listed = (await api.get("jobs")).json["jobs"]
    assert [j["id"] for j in listed] == [job_id] and "params" not in listed[0]
    for action in ("cancel", "resume"):
        assert_error(await api.post("jobs", "f" * 32, action), 404, "not_found")
        assert_error(await api.post("jobs", "../../etc", action), 404)
    assert_error(await api.get("jobs", "nope"), 404, "not_found")
