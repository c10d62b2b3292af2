"""The one job runner (jupyter_chat_ext/jobs/): lanes, per-kind crash policy, states, records on disk.

These are about the runner's mechanics, so the run functions are small stand-ins (named so); the real
kinds (ingest, pull) are covered by tests/core/test_ingest_resume.py and tests/hub/test_pull*.py.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from jupyter_chat_ext.errors import Conflict, InvalidInput, NotFound, Unavailable
from jupyter_chat_ext.jobs import JobKind, JobRunner


def blocking_run_standin(gate: threading.Event):
    def run(record, ctx):
        while not gate.wait(0.02):
            if ctx.should_stop():
                return {"cancelled": True}
        return {"ok": True}

    return run


def quick_run_standin(record, ctx):
    ctx.progress({"bytes_done": 1, "progress": 0.5})
    return {"ok": True}


def test_a_pull_never_waits_behind_an_ingest(tmp_path: Path) -> None:
    runner = JobRunner(tmp_path / "jobs")
    gate = threading.Event()
    runner.register(JobKind("ingest", blocking_run_standin(gate), lane="ingest"))
    runner.register(JobKind("pull", quick_run_standin, lane="pull"))
    try:
        ingest = runner.submit("ingest", {}, {"collection": "kb"})
        deadline = time.monotonic() + 30
        while runner.get(ingest["id"])["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        queued = runner.submit("ingest", {}, {"collection": "kb"})  # same lane: waits for the first
        pull = runner.submit("pull", {}, {"repo": "a/b"})
        done = runner.wait(pull["id"], timeout=30)
        assert done["state"] == "done" and done["progress"] == 1.0 and done["bytes_done"] == 1
        assert runner.get(ingest["id"])["state"] == "running"
        assert runner.get(queued["id"])["state"] == "queued"
        assert [j["id"] for j in runner.list("pull")] == [pull["id"]]
        assert {j["id"] for j in runner.list(("ingest", "upload"))} == {ingest["id"], queued["id"]}
    finally:
        gate.set()
        runner.close()


def test_states_actions_and_errors(tmp_path: Path) -> None:
    runner = JobRunner(tmp_path / "jobs")

    def failing_standin(record, ctx):
        raise InvalidInput("bad input", code="invalid_value")

    def crashing_standin(record, ctx):
        raise RuntimeError("boom")

    runner.register(JobKind("pull", failing_standin, lane="pull"))
    runner.register(JobKind("upload", crashing_standin, lane="ingest"))
    try:
        typed = runner.wait(runner.submit("pull", {})["id"], timeout=30)
        assert typed["state"] == "failed" and typed["actions"] == ["resume"]
        assert typed["error"] == {"code": "invalid_value", "message": "bad input"}
        untyped = runner.wait(runner.submit("upload", {})["id"], timeout=30)
        assert untyped["state"] == "failed" and untyped["error"]["code"] == "upload_failed"
        with pytest.raises(Conflict):
            runner.cancel(typed["id"])
        with pytest.raises(NotFound):
            runner.get("0" * 32)
        with pytest.raises(Unavailable):
            runner.submit("ingest", {})  # no such kind registered here
        assert "params" not in typed and "pid" not in typed
    finally:
        runner.close()


def test_after_a_crash_pulls_wait_for_resume_and_an_auto_resume_kind_restarts(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    for job_id, kind in (("a" * 32, "pull"), ("b" * 32, "ingest"), ("c" * 32, "paths")):
        record = {
            "id": job_id,
            "kind": kind,
            "state": "running",
            "attempts": 1,
            "params": {},
            "created_at": 1.0,
        }
        (folder / f"{job_id}.json").write_text(json.dumps(record))  # no lock holder: its process died
    (folder / ("d" * 32 + ".json")).write_text(
        json.dumps({"id": "d" * 32, "kind": "ingest", "state": "error"})
    )
    runner = JobRunner(folder)
    try:
        assert sorted(runner.recovered) == ["a" * 32, "b" * 32, "c" * 32]
        assert runner.get("c" * 32)["kind"] == "ingest"  # the older name of ingest jobs
        assert runner.get("d" * 32)["state"] == "failed"  # and their older failed state
        runner.register(JobKind("pull", quick_run_standin, lane="pull"))  # pulls: the user decides
        runner.register(JobKind("ingest", quick_run_standin, lane="ingest", auto_resume=True))
        pull = runner.get("a" * 32)
        assert pull["state"] == "interrupted" and pull["actions"] == ["resume"]
        assert runner.wait("b" * 32, timeout=30)["state"] == "done"
        assert runner.wait("c" * 32, timeout=30)["state"] == "done"
        runner.resume("a" * 32)
        assert runner.wait("a" * 32, timeout=30)["attempts"] == 2
    finally:
        runner.close()


def test_close_interrupts_a_running_job_of_its_lane_only(tmp_path: Path) -> None:
    runner = JobRunner(tmp_path / "jobs")
    gate = threading.Event()
    runner.register(JobKind("ingest", blocking_run_standin(gate), lane="ingest"))
    runner.register(JobKind("pull", blocking_run_standin(gate), lane="pull"))
    try:
        ingest = runner.submit("ingest", {})
        pull = runner.submit("pull", {})
        deadline = time.monotonic() + 30
        while runner.get(pull["id"])["state"] != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        runner.close(lanes=("ingest",))  # RagService closing on a shared runner
        assert runner.get(ingest["id"])["state"] == "interrupted"
        assert runner.get(pull["id"])["state"] == "running"
        cancelled = runner.cancel(pull["id"])
        assert cancelled["cancel_requested"] is True
        assert runner.wait(pull["id"], timeout=30)["state"] == "cancelled"
    finally:
        gate.set()
        runner.close()
