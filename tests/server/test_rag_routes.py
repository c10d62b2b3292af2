"""RAG routes: collections, ingestion jobs over files of the server root, search, chat with citations."""

from __future__ import annotations

import asyncio

from server_testlib import assert_error, on_jp_loop

DOCS = {
    "notes/kettle.md": "# Kettle\n\nThe blue kettle in the staff kitchen is descaled on Fridays by Priya.\n",
    "notes/bikes.txt": "Bicycles must be parked in the basement rack; the code for the gate is 4471.\n",
    "notes/tax.md": "# Taxes\n\nQuarterly VAT returns are filed by the finance team before the 7th.\n",
}


async def _wait_job(api, job_id: str) -> dict:
    for _ in range(600):
        job = (await api.get("jobs", job_id)).json
        if job["state"] in ("done", "failed"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError("the ingest job did not finish")


@on_jp_loop
async def test_collection_lifecycle_ingest_and_search(api, jp_root_dir):
    for rel, text in DOCS.items():
        path = jp_root_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    reply = await api.post("collections", body={"name": "office"})
    assert reply.code == 201 and reply.json["name"] == "office"
    assert_error(await api.post("collections", body={"name": "office"}), 409, "conflict")
    assert_error(await api.post("collections", body={"name": "../etc"}), 400)

    reply = await api.post(
        "collections", "office", "documents", body={"paths": ["notes"]}
    )  # relative to root
    assert reply.code == 202
    job = await _wait_job(api, reply.json["id"])
    assert job["state"] == "done", job
    assert job["files_done"] == 3 and job["chunks"] >= 3

    info = (await api.get("collections", "office")).json
    assert info["documents"] == 3 and info["chunks"] >= 3
    assert [c["name"] for c in (await api.get("collections")).json["collections"]] == ["office"]

    for mode in ("hybrid", "vector", "text"):
        reply = await api.get(
            "collections", "office", "search", params={"q": "who descales the kettle", "k": 2, "mode": mode}
        )
        assert reply.code == 200, reply.body
        hits = reply.json["results"]
        assert hits and hits[0]["source"].endswith("kettle.md"), (mode, hits)
    filtered = await api.get("collections", "office", "search", params={"q": "gate code", "file_type": "txt"})
    assert {h["file_type"] for h in filtered.json["results"]} == {"txt"}

    # paths outside the server root are refused up front
    reply = await api.post("collections", "office", "documents", body={"paths": ["../../etc/passwd"]})
    assert reply.code in (400, 403, 404) and "error" in reply.json

    # a chat grounded in the collection stores citations
    sid = (await api.new_session())["id"]
    reply = await api.chat(sid, "Who descales the kettle?", rag={"collection": "office", "k": 2})
    assert reply.code == 200
    done = next(d for k, d in reply.events if k == "done")
    assert done["citations"] and done["citations"][0]["source"].endswith("kettle.md")
    stored = (await api.get("sessions", sid, "messages")).json["messages"][-1]
    assert stored["metadata"]["citations"][0]["source"].endswith("kettle.md")

    reply = await api.post(
        "collections",
        "office",
        "upload",
        params={"filename": "extra.md"},
        body="# Extra\n\nThe printer is on floor 3.\n",
    )
    # an upload is a job now (issue 12: it was ingested inside the request): 202, then poll it
    assert reply.code == 202, reply.body
    job = await _wait_job(api, reply.json["id"])
    assert job["state"] == "done" and job["files_done"] == 1, job
    reply = await api.post("collections", "office", "reindex")
    assert reply.code == 200 and reply.json["documents"] == 4

    reply = await api.delete("collections", "office")
    assert reply.code == 204
    assert_error(await api.get("collections", "office"), 404)


@on_jp_loop
async def test_rag_routes_answer_503_when_retrieval_is_unavailable(api, chat_app):
    core = await chat_app.core()
    rag, core.rag, core.rag_error = core.rag, None, "RAG not available: no LanceDB here"
    try:
        err = assert_error(await api.get("collections"), 503, "rag_unavailable")  # as at every door
        assert err["message"] == "RAG not available: no LanceDB here"
        assert_error(await api.post("collections", body={"name": "x"}), 503)
        assert_error(await api.get("collections", "x", "search", params={"q": "hi"}), 503)
        sid = (await api.new_session())["id"]
        assert_error(await api.chat(sid, "hi", rag={"collection": "x"}), 503)
        health = (await api.get("health")).json
        assert health["rag"] == {"available": False, "error": "RAG not available: no LanceDB here"}
    finally:
        core.rag = rag
