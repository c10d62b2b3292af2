"""The extension app: lazy core, traitlets -> Settings, cheap import, preload, clean shutdown."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from server_testlib import assert_error, on_jp_loop

import jupyter_chat_ext

HEAVY = ("torch", "transformers", "duckdb", "lancedb", "numpy", "pyarrow")


def test_importing_the_extension_imports_nothing_heavy():
    code = (
        "import sys, jupyter_chat_ext, jupyter_chat_ext.server.app as a, jupyter_chat_ext.server.routes as r;"
        "r.build_handlers(); a.ChatExtApp;"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@on_jp_loop
async def test_health_builds_the_core_on_first_use(api, chat_app):
    assert chat_app.core_state == "idle"  # nothing heavy happened while the server started
    reply = await api.get("health")
    assert reply.code == 200, reply.body
    body = reply.json
    assert body["status"] == "ok"
    assert body["version"] == jupyter_chat_ext.__version__
    assert body["store"]["sessions"] == 0
    assert body["engine"]["default_model"] == "smollm2-135m-instruct"
    assert "smollm2-135m-instruct" not in [m["id"] for m in body["engine"]["loaded"]]  # preload is off
    assert body["uptime_s"] >= 0
    assert chat_app.core_state == "ready"


@pytest.fixture
def chat_ext_overrides(tmp_path):
    return {
        "max_queue": 3,
        "max_batch_size": 2,
        "context_budget": 1024,
        "default_max_tokens": 64,
        "device": "cpu",
        "dtype": "float32",
        "model_dirs": [str(tmp_path / "more-models")],
        "max_content_chars": 5000,
    }


@on_jp_loop
async def test_traitlets_config_reaches_the_core_settings(api, chat_app, tmp_path):
    reply = await api.get("health")
    assert reply.code == 200
    settings = (await chat_app.core()).settings
    assert settings.data_dir == tmp_path / "chat-data"
    assert settings.max_queue == 3
    assert settings.max_batch_size == 2
    assert settings.context_budget == 1024
    assert settings.default_max_tokens == 64
    assert (settings.device, settings.dtype) == ("cpu", "float32")
    assert settings.model_dirs == [tmp_path / "more-models"]
    assert settings.max_content_chars == 5000
    assert settings.db_path.exists()


def test_every_setting_has_help():
    from jupyter_chat_ext.server.app import ChatExtApp

    own = ChatExtApp.class_own_traits(config=True)
    assert {
        "data_dir",
        "default_model",
        "device",
        "max_queue",
        "max_body_bytes",
        "preload_default_model",
    } <= set(own)
    assert all(trait.help for trait in own.values())


def test_every_settings_field_is_a_config_trait_listed_by_class_print_help(capsys):
    import dataclasses

    from jupyter_chat_ext.server.app import ChatExtApp
    from jupyter_chat_ext.settings import Settings

    ChatExtApp.class_print_help()
    printed = capsys.readouterr().out
    own = ChatExtApp.class_own_traits(config=True)
    for f in dataclasses.fields(Settings):
        if f.metadata.get("config", True):
            assert f"--ChatExtApp.{f.name}=" in printed, f.name
            assert own[f.name].help, f.name  # the field's #: comment in settings.py
        else:  # filled in by the server from Jupyter's own settings
            assert f.name not in own
    assert "bitsandbytes quantization on CUDA" in own["quantization"].help


def test_command_line_flags_reach_the_settings():
    """What ``jupyter server --ChatExtApp.x=...`` gives the app: strings, JSON for lists/objects."""
    from traitlets.config.loader import KVArgParseConfigLoader

    from jupyter_chat_ext.server.app import ChatExtApp

    argv = [
        "--ChatExtApp.context_budget=1024",
        '--ChatExtApp.model_dirs=["/a", "/b"]',
        "--ChatExtApp.n_gpu_layers=12",
        "--ChatExtApp.quantization=4bit",
        '--ChatExtApp.mcp_servers={"x": {"command": "y"}}',
        "--ChatExtApp.scan_hf_cache=False",
    ]
    settings = ChatExtApp(config=KVArgParseConfigLoader(argv).load_config()).build_settings()
    assert settings.context_budget == 1024
    assert [str(p) for p in settings.model_dirs] == ["/a", "/b"]
    assert (settings.n_gpu_layers, settings.quantization) == (12, "4bit")
    assert settings.mcp_servers == {"x": {"command": "y"}}
    assert settings.scan_hf_cache is False
    # unset: "" / 0 stand for None, a factory default comes from the dataclass
    assert (settings.n_threads, settings.rerank_model, settings.hub_dir.name) == (None, None, "hub")


def test_kv_unified_alias_from_a_python_config_and_the_command_line():
    """The former switch still sets the layout: a bool in jupyter_server_config.py, text on the
    command line; unset, kv_layout decides ("auto")."""
    from traitlets.config import Config
    from traitlets.config.loader import KVArgParseConfigLoader

    from jupyter_chat_ext.server.app import ChatExtApp

    config = Config()
    config.ChatExtApp.kv_unified = False
    assert ChatExtApp(config=config).build_settings().kv_layout == "split"
    config.ChatExtApp.kv_unified = True
    assert ChatExtApp(config=config).build_settings().kv_layout == "unified"
    argv = ["--ChatExtApp.kv_unified=False"]
    assert ChatExtApp(config=KVArgParseConfigLoader(argv).load_config()).build_settings().kv_layout == "split"
    assert ChatExtApp().build_settings().kv_layout == "auto"


@on_jp_loop
async def test_stop_extension_frees_the_model_and_the_store(api, chat_app):
    session = await api.new_session(title="bye")
    reply = await api.chat(session["id"], "Say hi")
    assert reply.code == 200
    core = await chat_app.core()
    engine, db_path = core.engine, core.settings.db_path
    assert engine.loaded_models() == ["smollm2-135m-instruct"]

    await chat_app.stop_extension()

    assert engine.loaded_models() == []
    assert core.chat is None and core.store is None
    from jupyter_chat_ext.store.store import Store

    reopened = Store(db_path)  # the DuckDB file was closed and is ours to open again
    try:
        assert [s["title"] for s in reopened.list_sessions()] == ["bye"]
    finally:
        reopened.close()
    gone = await api.get("sessions")
    assert_error(gone, 503, "unavailable")
    assert int(gone.headers["Retry-After"]) >= 1


@on_jp_loop
async def test_start_hook_preloads_the_default_model_in_the_background(jp_serverapp, chat_app):
    chat_app.preload_default_model = True
    await chat_app._start_jupyter_server_extension(jp_serverapp)  # what the server calls after start
    assert chat_app._core is None  # returned at once: the core is built in a task + worker thread
    state = None
    for _ in range(600):
        core = chat_app._core
        if core is not None:
            state = core.engine.get_model("smollm2-135m-instruct")["state"]
            if state in ("loaded", "error"):
                break
        await asyncio.sleep(0.2)
    assert state == "loaded"
