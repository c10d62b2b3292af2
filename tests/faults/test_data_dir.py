"""A broken data dir at start-up or while running: clear 503/507 answers, and nothing is corrupted.

Covered: a corrupt DuckDB file, a file with a newer schema, two servers on one data dir, a
read-only data dir and a full disk. Each test checks what was kept: the file's bytes (hash), the
sessions written before, and that the healthy server keeps working.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from chatproc import SMALL, ChatServer, sha256, stream_chat

NO_PRELOAD = ("--ChatExtApp.preload_default_model=False",)


def assert_json_error(reply: httpx.Response, statuses: tuple[int, ...]) -> dict[str, Any]:
    assert reply.status_code in statuses, (reply.status_code, reply.text[:500])
    assert "Traceback" not in reply.text
    err = reply.json()["error"]
    assert err["code"] and err["message"]
    return err


def seeded_store(data_dir: Path) -> tuple[Path, str]:
    """A real store file with one session and two messages, written by the package itself."""
    from jupyter_chat_ext.store.store import Store

    data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(data_dir / "chat.duckdb")
    session = store.create_session(title="kept")
    store.add_message(session["id"], "user", "keep me")
    store.add_message(session["id"], "assistant", "kept too")
    store.close()
    return data_dir / "chat.duckdb", session["id"]


@pytest.mark.timeout(900)
def test_corrupt_store_file_is_a_clear_503_and_left_untouched(servers, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    db = data / "chat.duckdb"
    db.write_bytes(random.Random(5).randbytes(256 * 1024))
    before = sha256(db)
    server = servers.new(tmp_path / "srv", data_dir=data, extra=NO_PRELOAD).start()
    health = server.wait_health()
    err = assert_json_error(health, (503,))
    assert "chat.duckdb" in err["message"] or "store" in err["message"]
    assert_json_error(server.get("sessions"), (503,))
    assert_json_error(server.post("sessions", {"title": "x"}), (503,))
    assert server.stop() is not None
    assert sha256(db) == before, "the corrupt file was modified"
    assert not (data / "chat.duckdb.wal").exists()


@pytest.mark.timeout(900)
def test_newer_schema_is_refused_and_the_file_left_untouched(servers, tmp_path):
    db, _ = seeded_store(tmp_path / "data")
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_version VALUES (999, 'from the future', now()::TIMESTAMP)")
    con.close()
    before = sha256(db)
    server = servers.new(tmp_path / "srv", data_dir=db.parent, extra=NO_PRELOAD).start()
    err = assert_json_error(server.wait_health(), (503,))
    assert "999" in err["message"] or "newer" in err["message"], err
    assert_json_error(server.get("sessions"), (503,))
    server.stop()
    assert sha256(db) == before, "a file with a newer schema was written to"


@pytest.mark.timeout(900)
def test_second_server_on_the_same_data_dir_reports_the_lock_and_the_first_keeps_working(servers, tmp_path):
    data = tmp_path / "shared-data"
    first = servers.new(tmp_path / "one", data_dir=data, extra=NO_PRELOAD).start()
    assert first.wait_health().status_code == 200
    kept = first.new_session(title="first")

    second = servers.new(tmp_path / "two", data_dir=data, extra=NO_PRELOAD).start()
    err = assert_json_error(second.wait_health(), (503,))
    assert "lock" in err["message"].lower() or err["code"] == "store_locked", err
    assert_json_error(second.post("sessions", {"title": "second"}), (503,))

    # the first server owns the store and keeps reading and writing
    also = first.new_session(title="after the second server")
    turn = stream_chat(first, also, "Say hi.", SMALL)
    assert turn.status == 200 and turn.event("done"), (turn.status, turn.error)
    ids = {s["id"] for s in first.get("sessions").json()["sessions"]}
    assert {kept, also} <= ids
    second.stop()
    assert first.get("health").status_code == 200


@pytest.mark.timeout(900)
def test_read_only_data_dir_answers_503_or_507_and_keeps_the_file(servers, tmp_path, read_only_bind):
    make_read_only, make_writable = read_only_bind
    db, session_id = seeded_store(tmp_path / "data")
    before = sha256(db)
    make_read_only(db.parent)
    server = servers.new(tmp_path / "srv", data_dir=db.parent, extra=NO_PRELOAD).start()
    health = server.wait_health()
    assert health.status_code in (200, 503), health.text
    if health.status_code == 503:
        assert_json_error(health, (503,))
    else:  # opened read-only: reads work, writes are refused clearly
        assert server.get(f"sessions/{session_id}/messages").status_code == 200
    assert_json_error(server.post("sessions", {"title": "no room"}), (503, 507))
    for path in ("sessions", f"sessions/{session_id}", "collections"):
        assert server.get(path).status_code in (200, 503), path
    server.stop()
    make_writable(db.parent)
    assert sha256(db) == before
    again = servers.new(tmp_path / "srv2", data_dir=db.parent, extra=NO_PRELOAD).start()
    assert again.wait_health().status_code == 200
    assert [m["content"] for m in again.messages(session_id)] == ["keep me", "kept too"]


def fill(disk: Path) -> Path:
    """Write a filler file until the disk is full."""
    filler = disk / "filler.bin"
    block = b"\0" * (1 << 20)
    with filler.open("wb") as fh:
        try:
            while True:
                fh.write(block)
                fh.flush()
        except OSError:
            pass
    try:  # the last partial block: fill byte-wise tail with small writes
        with filler.open("ab") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
    except OSError:
        pass
    return filler


@pytest.mark.timeout(900)
def test_full_disk_refuses_writes_clearly_and_keeps_what_was_written(servers, tmp_path, tiny_disk):
    data = tiny_disk / "data"
    server: ChatServer = servers.new(
        tmp_path / "srv", data_dir=data, extra=("--ChatExtApp.preload_default_model=True",)
    ).start()
    assert server.wait_health().status_code == 200
    server.wait_model()
    kept = server.new_session(title="before the disk filled")
    turn = stream_chat(server, kept, "Say hello.", SMALL)
    assert turn.status == 200 and turn.event("done")
    rows_before = server.messages(kept)

    filler = fill(tiny_disk)
    statuses = []
    for i in range(6):  # several writes: the first may still fit in a DuckDB block already allocated
        reply = server.post("sessions", {"title": f"full {i}", "system_prompt": "x" * 90_000})
        statuses.append(reply.status_code)
        if reply.status_code >= 400:
            assert_json_error(reply, (503, 507))
    turn = stream_chat(server, kept, "Say hello again. " * 50, SMALL)
    statuses.append(turn.status)
    assert all(s < 500 or s in (503, 507) for s in statuses), statuses
    assert any(s in (503, 507) for s in statuses), f"no write was refused on a full disk: {statuses}"
    assert httpx.get(f"{server.base}/api/status", headers=server.headers, timeout=30).status_code == 200

    filler.unlink()
    time.sleep(0.5)
    # what was written before is intact, and writing works again once there is room
    assert server.messages(kept)[: len(rows_before)] == rows_before
    assert server.post("sessions", {"title": "room again"}).status_code == 201
    server.stop()
    again = servers.new(tmp_path / "srv2", data_dir=data, extra=NO_PRELOAD).start()
    assert again.wait_health().status_code == 200
    assert again.messages(kept)[: len(rows_before)] == rows_before
