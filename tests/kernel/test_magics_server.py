"""%%chat / %chat in a real kernel talking to a real Jupyter server (HTTP + SSE)."""

from __future__ import annotations

from pathlib import Path

import httpx
from kernel_harness import JupyterServer, Kernel, base_env

SETUP = "_magics = get_ipython().magics_manager.registry['ChatMagics']\n"


def server_messages(server: JupyterServer, session_id: str) -> list[dict]:
    resp = server.get(f"sessions/{session_id}/messages")
    assert resp.status_code == 200, resp.text
    return resp.json()["messages"]


def test_status_says_server_mode(server_kernel: Kernel, jupyter_server: JupyterServer) -> None:
    res = server_kernel.execute("%chat status")
    assert res.status == "ok", res.error_text
    assert "mode: server" in res.stdout
    assert jupyter_server.url in res.stdout
    assert "smollm2-135m-instruct" in res.stdout  # loaded by the server, shared with the kernel


def test_answer_streams_over_sse_and_is_stored_by_the_server(
    server_kernel: Kernel, jupyter_server: JupyterServer
) -> None:
    res = server_kernel.execute("%%chat --max-tokens 24 --seed 0\nName three fruits.")
    assert res.status == "ok", res.error_text
    updates = [m for m in res.of_type("update_display_data") if "text/markdown" in m["content"]["data"]]
    # the display is redrawn at most every 0.1 s: on an idle machine 24 tokens may take only ~0.25 s,
    # so streaming shows as at least one partial redraw before the final one
    assert len(updates) >= 2
    final = updates[-1]["content"]["data"]["text/markdown"]
    first = updates[0]["content"]["data"]["text/markdown"]
    assert first != final
    server_kernel.execute(SETUP)
    session_id = server_kernel.value("_magics.default_session_id")
    messages = server_messages(jupyter_server, session_id)
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[-1]["content"] == final
    assert messages[-1]["status"] == "complete"


def test_sessions_are_shared_with_other_clients(server_kernel: Kernel, jupyter_server: JupyterServer) -> None:
    # a session made through the HTTP API (as the sidebar does) is visible to and usable from the kernel
    resp = httpx.post(
        jupyter_server.url + "chat-ext/sessions",
        headers=jupyter_server.headers,
        json={"title": "from the sidebar"},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    session_id = resp.json()["id"]
    res = server_kernel.execute("%chat sessions sidebar")
    assert res.status == "ok", res.error_text
    assert session_id in "\n".join(res.data())
    res = server_kernel.execute(f"%%chat --session {session_id} --max-tokens 4\nHello")
    assert res.status == "ok", res.error_text
    assert [m["role"] for m in server_messages(jupyter_server, session_id)] == ["user", "assistant"]


def test_interrupt_keeps_the_partial_on_the_server(
    server_kernel: Kernel, jupyter_server: JupyterServer
) -> None:
    seen = {"updates": 0, "sent": False}

    def on_message(msg: dict) -> None:  # updates of the answer, not of a model load
        if msg["msg_type"] == "update_display_data" and "text/markdown" in msg["content"]["data"]:
            seen["updates"] += 1
            if seen["updates"] == 3 and not seen["sent"]:
                seen["sent"] = True
                server_kernel.interrupt()

    res = server_kernel.execute(
        "%%chat --session interrupted-story --max-tokens 400\nWrite a long story about a lighthouse keeper.",
        on_message=on_message,
    )
    assert seen["sent"] and res.status == "ok", res.error_text
    server_kernel.execute(SETUP)
    session_id = server_kernel.value("_magics.last['session_id']")
    partial = server_kernel.value("_magics.last['text']")
    # the server notices the closed stream and stores the partial answer as interrupted
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = server_messages(jupyter_server, session_id)[-1]
        if answer["status"] == "interrupted" and answer["content"]:
            break
        time.sleep(0.2)
    assert answer["role"] == "assistant"
    assert answer["status"] == "interrupted"
    assert answer["content"].startswith(partial.strip()[:20])
    assert answer["metrics"] is None or answer["metrics"]["completion_tokens"] < 400


def test_errors_from_the_server_are_typed_and_clean(server_kernel: Kernel) -> None:
    res = server_kernel.execute("%%chat --model no-such-model --no-history\nhi")
    assert res.status == "error"
    assert "no-such-model" in res.error_text and "Traceback" not in res.error_text
    res = server_kernel.execute("%chat search no-such-collection anything")
    assert res.status == "error"
    assert "no-such-collection" in res.error_text and "Traceback" not in res.error_text


def test_sql_in_server_mode(server_kernel: Kernel, jupyter_server: JupyterServer) -> None:
    probe = httpx.post(
        jupyter_server.url + "chat-ext/sql",
        headers=jupyter_server.headers,
        json={"query": "SELECT 1"},
        timeout=30,
    )
    res = server_kernel.execute("%chat sql SELECT count(*) AS n FROM sessions")
    if probe.status_code in (404, 405):  # the server offers no SQL route: a clear message
        assert res.status == "error"
        assert "offers no SQL over the chat store" in res.error_text
    else:
        assert res.status == "ok", res.error_text
        assert "<table" in "\n".join(res.data("text/html"))
        res = server_kernel.execute("%chat sql DELETE FROM sessions")
        assert res.status == "error"
        assert "read-only" in res.error_text and "Traceback" not in res.error_text


def test_ingest_goes_through_the_server_root(server_kernel: Kernel, jupyter_server: JupyterServer) -> None:
    docs = jupyter_server.root / "kb-docs"
    docs.mkdir(exist_ok=True)
    (docs / "tea.md").write_text("# Tea\n\nGreen tea is steamed or pan-fired soon after picking.\n")
    res = server_kernel.execute(f"%chat ingest serverkb {docs}")
    assert res.status == "ok", res.error_text
    assert "serverkb: 1 files" in res.stdout
    resp = jupyter_server.get("collections/serverkb/search", params={"q": "green tea", "k": 1})
    assert resp.status_code == 200
    assert resp.json()["results"][0]["source"].endswith("tea.md")


def test_a_kernel_finds_the_server_from_its_runtime_files(
    jupyter_server: JupyterServer, tmp_path: Path
) -> None:
    # no URL / token in the environment: discovery through jupyter_server's runtime files, the
    # server whose root dir holds the kernel's cwd
    env = base_env(tmp_path, JUPYTER_RUNTIME_DIR=jupyter_server.env["JUPYTER_RUNTIME_DIR"])
    cwd = jupyter_server.root / "sub"
    cwd.mkdir(exist_ok=True)
    kernel = Kernel(env, cwd=cwd)
    try:
        assert kernel.execute("%load_ext jupyter_chat_ext").status == "ok"
        res = kernel.execute("%chat status")
        assert res.status == "ok", res.error_text
        assert "mode: server" in res.stdout
        assert f"127.0.0.1:{jupyter_server.port}" in res.stdout
    finally:
        kernel.shutdown()


def test_report_answers_through_the_server_repeat_exactly(server_kernel: Kernel) -> None:
    server_kernel.execute(
        "from jupyter_chat_ext.kernel.connection import get_client as _gc\n"
        "from jupyter_chat_ext.kernel.report import answer_questions as _aq\n"
        "_qs = ['What is two plus two?', 'Name a month.']\n"
    )
    code = "[a.to_dict() for a in _aq(_gc(), _qs, seed=2, max_tokens=8, use_cache=True)]"
    first = server_kernel.value(code)
    second = server_kernel.value(code)
    assert [a["answer"] for a in first] == [a["answer"] for a in second]
    assert all(a["answer"].strip() for a in first)
    # the response cache lives in the server's store (chat-ext/cache/{key})
    assert [a["cached"] for a in second] == [True, True]
    for a in first:
        assert a["provenance"]["mode"] == "server"
        assert a["provenance"]["model_hash"].startswith("sha256:")
        assert a["metrics"]["completion_tokens"] <= 8
