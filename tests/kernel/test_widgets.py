"""The anywidget widgets' Python side, driven like the browser drives it, over the real core."""

from __future__ import annotations

import itertools
import re
import threading
import time
from pathlib import Path

import pytest

from jupyter_chat_ext.widgets import ChatWidget, ModelPanel, RagPanel
from jupyter_chat_ext.widgets.markdown import markdown_tree

WIDGETS_DIR = Path(__file__).resolve().parents[2] / "jupyter_chat_ext" / "widgets"


def browser_message(widget, content: dict) -> None:
    """Deliver a custom message as the front end's ``model.send(...)`` does."""
    widget._dispatch(widget, content, [])


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.02)


def test_chat_widget_streams_and_stores(local_service) -> None:
    widget = ChatWidget(client=local_service, max_tokens=24, update_interval=0.0)
    partials: list[str] = []
    trees: list[list] = []
    widget.observe(lambda ch: partials.append(ch["new"]), names="partial")
    widget.observe(lambda ch: trees.append(ch["new"]), names="partial_blocks")
    browser_message(widget, {"type": "send", "content": "Name two animals."})
    widget.wait(120)
    assert widget.error == ""
    assert not widget.busy
    streamed = [p for p in partials if p]
    assert len(streamed) >= 3, "the answer should reach the widget in pieces"
    assert all(b.startswith(a) for a, b in itertools.pairwise(streamed))
    roles = [m["role"] for m in widget.messages]
    assert roles == ["user", "assistant"]
    stored = local_service.list_messages(widget.session_id)
    assert widget.messages[-1]["content"] == stored[-1]["content"]
    assert stored[-1]["content"].startswith(streamed[-1])
    assert re.match(r"\d+ tokens", widget.info)
    assert widget.session_id in [s["id"] for s in widget.sessions]
    # the browser draws markdown trees: of the growing answer, then of the stored one
    assert any(trees) and trees[-1] == []
    assert widget.messages[-1]["blocks"] == markdown_tree(stored[-1]["content"])
    assert widget.messages[0]["blocks"] is None  # the user's text is shown as typed


def test_chat_widget_stop_keeps_the_partial(local_service) -> None:
    widget = ChatWidget(client=local_service, max_tokens=400, update_interval=0.0)
    widget.send("Write a long story about a river.")
    wait_for(lambda: len(widget.partial) > 10)
    browser_message(widget, {"type": "stop"})
    widget.wait(60)
    last = local_service.list_messages(widget.session_id)[-1]
    assert last["role"] == "assistant"
    assert last["status"] == "interrupted"
    assert last["content"].strip()
    assert widget.messages[-1]["status"] == "interrupted"
    assert "interrupted" in widget.info


def test_chat_widget_session_picker(local_service) -> None:
    first = local_service.create_session(title="first")
    local_service.create_session(title="second")
    widget = ChatWidget(client=local_service, session="first", max_tokens=4)
    assert widget.session_id == first["id"]
    assert {"first", "second"} <= {s["title"] for s in widget.sessions}
    widget.send("Hi", wait=True, timeout=60)
    assert len(widget.messages) == 2
    browser_message(widget, {"type": "new_session"})
    assert widget.session_id != first["id"] and widget.messages == []
    widget.session_id = first["id"]  # what picking it in the <select> does
    assert [m["role"] for m in widget.messages] == ["user", "assistant"]


def test_chat_widget_reports_errors_in_its_error_line(local_service) -> None:
    widget = ChatWidget(client=local_service, max_tokens=4)
    widget.new_session("doomed")
    local_service.delete_session(widget.session_id)
    widget.send("anyone there?", wait=True, timeout=60)
    assert widget.error  # NotFound from the store, shown instead of raised
    assert not widget.busy
    browser_message(widget, {"type": "no-such-action"})
    assert "unknown widget message" in widget.error


def test_model_panel_load_and_unload_with_progress(local_service, settings) -> None:
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.kernel.local_service import LocalService

    # its own engine, so unloading does not disturb the shared one
    panel_settings = settings.__class__(data_dir=settings.data_dir.parent / "panel")
    service = LocalService(panel_settings, engine=Engine(panel_settings))
    try:
        panel = ModelPanel(client=service, poll_s=0.05)
        model_id = settings.default_model
        row = next(m for m in panel.models if m["id"] == model_id)
        assert row["state"] == "unloaded" and row["size_bytes"] > 0
        progress: list[float] = []
        panel.observe(lambda ch: progress.append(ch["new"]), names="progress")
        browser_message(panel, {"type": "load", "id": model_id})
        panel.wait(300)
        assert panel.error == ""
        assert next(m for m in panel.models if m["id"] == model_id)["state"] == "loaded"
        assert progress and progress[-1] == 1.0
        assert panel.loading == ""
        panel.unload(model_id, wait=True)
        assert next(m for m in panel.models if m["id"] == model_id)["state"] == "unloaded"
    finally:
        service.engine.close()
        service.close()


def test_chat_widget_shows_the_model_load_first(settings) -> None:
    from jupyter_chat_ext.engine.engine import Engine
    from jupyter_chat_ext.kernel.local_service import LocalService

    # its own engine with nothing loaded: the first answer has to wait for the load
    own = settings.__class__(data_dir=settings.data_dir.parent / "widget-load")
    service = LocalService(own, engine=Engine(own))
    try:
        widget = ChatWidget(client=service, max_tokens=4)
        seen: list[tuple[str, float]] = []
        widget.observe(
            lambda ch: seen.append((widget.loading, widget.progress)), names=["loading", "progress"]
        )
        widget.send("Hi", wait=True, timeout=300)
        assert widget.error == ""
        assert any(m == own.default_model for m, _ in seen)
        assert widget.loading == ""
        assert widget.messages[-1]["role"] == "assistant" and widget.messages[-1]["content"]
        # loaded now: the next answer shows no load
        seen.clear()
        widget.send("Hi again", wait=True, timeout=120)
        assert not [m for m, _ in seen if m]
    finally:
        service.engine.close()
        service.close()


def test_rag_panel_ingest_and_search(local_service, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bees.md").write_text("# Bees\n\nHoney bees dance to tell each other where flowers are.\n")
    (docs / "trains.md").write_text("# Trains\n\nSteam locomotives burn coal to boil water.\n")
    panel = RagPanel(client=local_service, poll_s=0.05)
    jobs: list[dict] = []
    panel.observe(lambda ch: jobs.append(dict(ch["new"])), names="job")
    browser_message(panel, {"type": "ingest", "collection": "notes", "paths": [str(docs)]})
    panel.wait(300)
    assert panel.error == ""
    assert panel.job["state"] == "done" and panel.job["files_done"] == 2
    assert jobs[0]["state"] == "queued"
    assert [c["name"] for c in panel.collections] == ["notes"]
    browser_message(
        panel, {"type": "search", "query": "how do bees communicate", "collection": "notes", "k": 2}
    )
    assert panel.results and panel.results[0]["source"].endswith("bees.md")
    assert panel.results[0]["text"] and isinstance(panel.results[0]["score"], float)
    with pytest.raises(Exception, match="search needs"):
        panel.search("")


def test_widgets_are_usable_from_threads_without_the_event_loop(local_service) -> None:
    # traitlet updates come from worker threads; two widgets stream at the same time
    a = ChatWidget(client=local_service, max_tokens=8)
    b = ChatWidget(client=local_service, max_tokens=8)
    threads = [threading.Thread(target=w.send, args=("Say hi.",), kwargs={"wait": True}) for w in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for w in (a, b):
        assert w.error == "" and w.messages[-1]["role"] == "assistant" and w.messages[-1]["content"]


@pytest.mark.parametrize("name", ["chat.js", "models.js", "rag.js"])
def test_front_ends_never_inject_html(name: str) -> None:
    from jupyter_chat_ext.widgets.esm import build_esm

    source = build_esm(name)  # the module as shipped: the widget with dom.js inlined
    assert "export default" in source
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in source
    assert "textContent" in source


def test_css_follows_the_jupyterlab_theme() -> None:
    css = (WIDGETS_DIR / "widgets.css").read_text()
    colours = re.findall(r"(?:color|background)\s*:\s*([^;]+);", css)
    assert colours and all("var(--jp-" in c for c in colours)
