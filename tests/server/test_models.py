"""Model registry routes: list, get, background load with progress, unload."""

from __future__ import annotations

import asyncio

from server_testlib import on_jp_loop

MODEL = "smollm2-135m-instruct"


@on_jp_loop
async def test_list_load_poll_unload(api):
    models = (await api.get("models")).json["models"]
    by_id = {m["id"]: m for m in models}
    assert by_id[MODEL]["kind"] == "chat" and by_id[MODEL]["source"] == "packaged"
    assert by_id["all-minilm-l6-v2"]["kind"] == "embedding"
    assert by_id[MODEL]["state"] == "unloaded"
    assert by_id[MODEL]["context_length"] and by_id[MODEL]["size_bytes"] > 0

    reply = await api.post("models", MODEL, "load")
    assert reply.code == 202
    assert reply.json["id"] == MODEL and reply.json["state"] in ("loading", "loaded")

    seen = []
    for _ in range(600):
        info = (await api.get("models", MODEL)).json
        seen.append((info["state"], info["progress"]))
        if info["state"] in ("loaded", "error"):
            break
        await asyncio.sleep(0.1)
    assert info["state"] == "loaded", info
    assert info["progress"] == 1.0 and info["device"]
    # the engine's counters for a loaded model: which llama.cpp library serves, the KV layout
    stats = info["stats"]
    assert stats["steps"] >= 0 and stats["queue_depth"] >= 0
    if info["backend"] == "llamacpp":
        assert stats["library"].startswith("llama-cpp-python ") and stats["kv_layout"] == "auto"
    assert all(0.0 <= p <= 1.0 for _, p in seen)

    health = (await api.get("health")).json
    assert MODEL in [m["id"] for m in health["engine"]["loaded"]]

    reply = await api.post("models", MODEL, "unload")
    assert reply.code == 200 and reply.json["state"] == "unloaded"
    assert MODEL not in [m["id"] for m in (await api.get("health")).json["engine"]["loaded"]]
