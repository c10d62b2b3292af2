"""build_core: the one composition root of the server and the kernel's LocalService (no model runs)."""

from __future__ import annotations

import json

from server_testlib import on_jp_loop

from jupyter_chat_ext.core import build_core
from jupyter_chat_ext.settings import Settings

#: "problems": configuration that was skipped and why (config_report.py), [] when none
HEALTH_KEYS = {"status", "version", "engine", "store", "rag", "problems"}


def test_build_core_opens_every_part_and_reports_one_health_shape(tmp_path):
    core = build_core(Settings(data_dir=tmp_path / "data"))
    try:
        assert core.settings.db_path.exists() and core.rag is not None and core.rag_error is None
        session = core.chat.create_session(title="t")
        health = core.health()
        assert set(health) == HEALTH_KEYS and health["status"] == "ok"
        assert health["store"] == {"path": str(core.settings.db_path), "sessions": 1}
        assert health["engine"]["default_model"] == core.settings.default_model
        assert {"models", "loaded", "loading", "queue_depth", "device"} <= set(health["engine"])
        assert health["rag"] == {"available": True, "error": None}
        assert health["problems"] == []  # nothing in this configuration was skipped
        json.dumps(health)  # plain data, ready for any door
        assert core.chat.get_session(session["id"])["title"] == "t"
    finally:
        core.close()
    assert core.chat is None and core.store is None
    core.close()  # twice is fine


def test_a_lent_engine_is_left_running(tmp_path):
    first = build_core(Settings(data_dir=tmp_path / "a"))
    try:
        second = build_core(Settings(data_dir=tmp_path / "b"), engine=first.engine)
        assert second.engine is first.engine and not second.owns_engine
        second.close()
        assert first.engine.list_models()  # still usable: close() did not close the lent engine
    finally:
        first.close()


@on_jp_loop
async def test_the_server_health_is_core_health_plus_uptime(api, chat_app):
    reply = await api.get("health")
    assert reply.code == 200
    assert set(reply.json) == HEALTH_KEYS | {"uptime_s"}
    core = await chat_app.core()
    assert set(core.health()) == HEALTH_KEYS
