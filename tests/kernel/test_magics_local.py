"""%%chat / %chat in a real IPython kernel running the core in-process (JUPYTER_CHAT_EXT_MODE=local)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kernel_harness import Execution, Kernel, base_env

SETUP = (
    "from jupyter_chat_ext.kernel.connection import get_client as _gc\n"
    "_magics = get_ipython().magics_manager.registry['ChatMagics']\n"
)


def last_messages(kernel: Kernel, session_expr: str = "_magics.default_session_id") -> list[dict]:
    kernel.execute(SETUP)
    return kernel.value(f"_gc().list_messages({session_expr})")


def test_status_says_local_mode(local_kernel: Kernel) -> None:
    res = local_kernel.execute("%chat status")
    assert res.status == "ok", res.error_text
    assert "mode: local" in res.stdout
    assert "data_dir:" in res.stdout


def test_models_lists_the_packaged_model(local_kernel: Kernel) -> None:
    res = local_kernel.execute("%chat models")
    assert res.status == "ok", res.error_text
    assert "smollm2-135m-instruct" in "\n".join(res.data())


def test_answer_streams_in_pieces_and_is_stored(local_kernel: Kernel) -> None:
    # long enough to stream over several 0.1 s display updates even at llama.cpp's ~100 tok/s
    res = local_kernel.execute(
        "%%chat --max-tokens 64 --seed 0\nWrite a short paragraph about the colors of the rainbow."
    )
    assert res.status == "ok", res.error_text
    # the answer's own display (a fresh kernel may show the model's load in another one first)
    first = [m for m in res.of_type("display_data") if "text/markdown" in m["content"]["data"]]
    updates = [m for m in res.of_type("update_display_data") if "text/markdown" in m["content"]["data"]]
    assert first and "transient" in first[0]["content"]
    display_id = first[0]["content"]["transient"]["display_id"]
    assert len(updates) >= 3, "the answer should reach the cell in several display updates"
    assert all(u["content"]["transient"]["display_id"] == display_id for u in updates)
    shown = [u["content"]["data"]["text/markdown"] for u in updates]
    assert len({len(s) for s in shown}) >= 3, "updates should carry a growing answer"
    messages = last_messages(local_kernel)
    assert [m["role"] for m in messages[-2:]] == ["user", "assistant"]
    answer = messages[-1]
    assert answer["content"].strip()
    assert shown[-1] == answer["content"], "the final display is the stored answer"
    assert answer["metrics"]["completion_tokens"] <= 64


def test_text_format_prints_stream_messages(local_kernel: Kernel) -> None:
    res = local_kernel.execute("%%chat --format text --max-tokens 16 --no-history\nCount from one to ten.")
    assert res.status == "ok", res.error_text
    streams = [m for m in res.of_type("stream") if m["content"]["name"] == "stdout"]
    assert len(streams) >= 3
    assert not res.of_type("display_data")


def test_notebook_variables_fill_the_prompt(local_kernel: Kernel) -> None:
    local_kernel.execute("n_rows = 7\ncfg = {'a': 1}")
    res = local_kernel.execute("%%chat --max-tokens 4\nRepeat {n_rows} and keep {unknown} and {cfg[a]}.")
    assert res.status == "ok", res.error_text
    user = [m for m in last_messages(local_kernel) if m["role"] == "user"][-1]
    assert user["content"] == "Repeat 7 and keep {unknown} and 1."


def test_named_session_and_no_history(local_kernel: Kernel) -> None:
    for _ in range(2):
        res = local_kernel.execute("%%chat --session notes --max-tokens 4 --system 'Be brief.'\nHello")
        assert res.status == "ok", res.error_text
    local_kernel.execute(SETUP)
    notes = local_kernel.value("_gc().find_session('notes', create=False)")
    assert notes["message_count"] == 4
    assert notes["system_prompt"] == "Be brief."
    before = local_kernel.value("len(_gc().list_sessions(limit=500))")
    for _ in range(2):
        assert local_kernel.execute("%%chat --no-history --max-tokens 4\nHi").status == "ok"
    assert local_kernel.value("len(_gc().list_sessions(limit=500))") == before + 2


def test_seeded_sampling_is_reproducible(local_kernel: Kernel) -> None:
    options = "--no-history --format text --temperature 0.9 --seed 42 --max-tokens 16"
    cell = f"%%chat {options}\nInvent a name for a cat."
    first = local_kernel.execute(cell)
    second = local_kernel.execute(cell)
    assert first.status == second.status == "ok"
    assert first.stdout.strip() and first.stdout == second.stdout


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("%%chat --bogus\nhi", "unrecognized arguments: --bogus"),
        ("%%chat --format html\nhi", "invalid choice: 'html'"),
        ("%%chat --max-tokens many\nhi", "invalid int value"),
        ("%%chat\n   ", "needs a prompt"),
        ("%chat frobnicate", "unknown command 'frobnicate'"),
        ("%chat load", "usage: %chat load MODEL"),
        ("%chat ingest docs", "usage: %chat ingest"),
    ],
)
def test_usage_errors_show_usage_not_a_traceback(local_kernel: Kernel, cell: str, expected: str) -> None:
    res = local_kernel.execute(cell)
    assert res.status == "error"
    text = res.stderr + res.error_text
    assert expected in text
    assert "usage" in text.lower()
    assert "Traceback" not in text


def test_bad_option_values_are_reported_cleanly(local_kernel: Kernel) -> None:
    res = local_kernel.execute("%%chat --temperature -1 --no-history\nhi")
    assert res.status == "error"
    assert "temperature must be >= 0" in res.error_text
    assert "Traceback" not in res.error_text
    res = local_kernel.execute("%%chat --model no-such-model --no-history\nhi")
    assert res.status == "error"
    assert "no-such-model" in res.error_text and "%chat models" in res.error_text


def test_help_is_the_real_docstring(local_kernel: Kernel) -> None:
    # every option and command: test_magics_papercuts.py::test_help_comes_from_the_declaration
    res = local_kernel.execute("%%chat?")
    assert res.status == "ok"
    page = "".join(
        p["data"]["text/plain"] for p in res.reply["content"]["payload"] if p.get("source") == "page"
    )
    for needle in ("--max-tokens", "--no-history", "--rag", "Line commands", "%chat sql QUERY"):
        assert needle in page
    res = local_kernel.execute("%chat help")
    assert "--format" in res.stdout and "Line commands" in res.stdout


def test_history_and_sql_give_dataframes(local_kernel: Kernel) -> None:
    assert local_kernel.execute("%%chat --max-tokens 4\nHi").status == "ok"
    res = local_kernel.execute("%chat history")
    assert res.status == "ok", res.error_text
    html = "\n".join(res.data("text/html"))
    assert "<table" in html and "assistant" in html and "tokens_per_s" in html
    res = local_kernel.execute(
        "_df = %chat sql SELECT role, count(*) AS n FROM messages GROUP BY role ORDER BY role\n_df"
    )
    assert res.status == "ok", res.error_text
    roles = local_kernel.value("list(_df['role'])")
    assert roles == ["assistant", "user"]
    assert local_kernel.value("int(_df['n'].sum())") == local_kernel.value(
        "sum(s['message_count'] for s in _gc().list_sessions(limit=500))"
    )


def test_sql_that_writes_is_refused(local_kernel: Kernel) -> None:
    local_kernel.execute(SETUP)
    count = "_gc().sql('SELECT count(*) FROM messages')[1][0][0]"
    before = local_kernel.value(count)
    for statement in ("DELETE FROM messages", "DROP TABLE sessions", "UPDATE messages SET content = 'x'"):
        res = local_kernel.execute(f"%chat sql {statement}")
        assert res.status == "error"
        assert "Traceback" not in res.error_text
    assert local_kernel.value(count) == before


def test_export_writes_markdown_and_json(local_kernel: Kernel, tmp_path: Path) -> None:
    assert local_kernel.execute("%%chat --session exported --max-tokens 4\nHello there").status == "ok"
    md, js = tmp_path / "s.md", tmp_path / "s.json"
    assert local_kernel.execute(f"%chat export exported {md}").status == "ok"
    assert local_kernel.execute(f"%chat export exported {js}").status == "ok"
    assert "Hello there" in md.read_text()
    import json

    data = json.loads(js.read_text())
    assert "Hello there" in json.dumps(data)


def test_ingest_search_and_rag_answer(local_kernel: Kernel, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "duck.md").write_text("# Ducks\n\nThe mallard duck lives near ponds and eats water plants.\n")
    (docs / "saturn.md").write_text("# Saturn\n\nSaturn is the sixth planet and has bright rings of ice.\n")
    res = local_kernel.execute(f"%chat ingest kb {docs}")
    assert res.status == "ok", res.error_text
    assert re.search(r"kb: 2 files, \d+ chunks", res.stdout), res.stdout
    res = local_kernel.execute("_hits = %chat search kb which planet has rings\n_hits")
    assert res.status == "ok", res.error_text
    assert local_kernel.value("str(_hits['source'].iloc[0])").endswith("saturn.md")
    res = local_kernel.execute("%%chat --rag kb --no-history --max-tokens 16\nWhich planet has rings?")
    assert res.status == "ok", res.error_text
    local_kernel.execute(SETUP)
    answer = local_kernel.value("_gc().list_messages(_magics.last['session_id'])[-1]")
    sources = [c["source"] for c in answer["metadata"]["citations"]]
    assert any(s.endswith("saturn.md") for s in sources)


def test_interrupt_stops_generation_and_keeps_the_partial(local_kernel: Kernel) -> None:
    seen = {"updates": 0, "interrupted": False}

    def on_message(msg: dict) -> None:  # updates of the answer, not of a model load
        if msg["msg_type"] == "update_display_data" and "text/markdown" in msg["content"]["data"]:
            seen["updates"] += 1
            if seen["updates"] == 3 and not seen["interrupted"]:
                seen["interrupted"] = True
                local_kernel.interrupt()

    res: Execution = local_kernel.execute(
        "%%chat --no-history --max-tokens 400\nWrite a long story about a cat who sails the world.",
        on_message=on_message,
    )
    assert seen["interrupted"]
    assert res.status == "ok", res.error_text
    assert "interrupted" in "\n".join(res.data("text/markdown"))
    local_kernel.execute(SETUP)
    answer = local_kernel.value("_gc().list_messages(_magics.last['session_id'])[-1]")
    assert answer["role"] == "assistant"
    assert answer["status"] == "interrupted"
    assert answer["content"].strip()
    assert local_kernel.value("_magics.last['text']") == answer["content"]
    # the kernel is still usable afterwards
    assert local_kernel.execute("%%chat --no-history --max-tokens 4\nHi").status == "ok"


def test_server_mode_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    env = base_env(tmp_path, JUPYTER_CHAT_EXT_MODE="server", JUPYTER_CHAT_EXT_URL="http://127.0.0.1:9/")
    kernel = Kernel(env, cwd=tmp_path)
    try:
        assert kernel.execute("%load_ext jupyter_chat_ext").status == "ok"
        res = kernel.execute("%%chat\nhello")
        assert res.status == "error"
        assert "no Jupyter server with the chat extension answered" in res.error_text
        assert "jupyter lab" in res.error_text and "JUPYTER_CHAT_EXT_MODE=local" in res.error_text
        assert "Traceback" not in res.error_text
    finally:
        kernel.shutdown()


def test_unload_and_load_with_a_progress_bar(local_kernel: Kernel) -> None:
    res = local_kernel.execute("%chat unload smollm2-135m-instruct")
    assert res.status == "ok", res.error_text
    assert "smollm2-135m-instruct: unloaded" in res.stdout
    res = local_kernel.execute("%chat load smollm2-135m-instruct")
    assert res.status == "ok", res.error_text
    assert "smollm2-135m-instruct loaded on cpu" in res.stdout
    # tqdm.auto draws a widget progress bar in a kernel
    assert any(
        "application/vnd.jupyter.widget-view+json" in m["content"]["data"]
        for m in res.of_type("display_data")
    )
    res = local_kernel.execute("%chat load no-such-model")
    assert res.status == "error" and "no-such-model" in res.error_text


def test_new_default_session_and_session_search(local_kernel: Kernel) -> None:
    local_kernel.execute(SETUP)
    before = local_kernel.value("_magics.default_session_id")
    res = local_kernel.execute("%chat new Fresh start")
    assert res.status == "ok", res.error_text
    after = local_kernel.value("_magics.default_session_id")
    assert after != before and after in res.stdout
    res = local_kernel.execute("%chat sessions Fresh start")
    assert res.status == "ok", res.error_text
    assert after in "\n".join(res.data())


def test_branch_command_switches_between_edits(local_kernel: Kernel) -> None:
    # a question edited with new text (as the sidebar's "Edit and resend") starts a branch beside it;
    # %chat branch ID shows the other one again, and the history follows the branch shown
    res = local_kernel.execute("%%chat --session branches --max-tokens 4 --seed 0\nName a fruit.")
    assert res.status == "ok", res.error_text
    local_kernel.execute(SETUP)
    sid = local_kernel.value("_gc().find_session('branches', create=False)['id']")
    first = last_messages(local_kernel, repr(sid))[0]
    assert first["role"] == "user" and first["content"] == "Name a fruit."
    res = local_kernel.execute(
        "async def _resend():\n"
        f"    turn = _gc().service.edit_and_resend({first['id']}, 'Name a vegetable.', {{'max_tokens': 4}})\n"
        "    async for _ in turn:\n"
        "        pass\n"
        "_gc().run(_resend())\n"
    )
    assert res.status == "ok", res.error_text
    shown = last_messages(local_kernel, repr(sid))
    assert shown[0]["content"] == "Name a vegetable." and shown[0]["branch"]["count"] == 2
    res = local_kernel.execute(f"%chat branch {first['id']} branches")
    assert res.status == "ok", res.error_text
    assert f"branch of message {first['id']}" in res.stdout
    shown = last_messages(local_kernel, repr(sid))
    assert shown[0]["content"] == "Name a fruit." and len(shown) == 2  # the old question and its answer
    res = local_kernel.execute("%chat branch 999999 branches")  # no such message: a clean error
    text = res.stderr + res.error_text
    assert res.status == "error" and "no message 999999" in text and "Traceback" not in text, text
    res = local_kernel.execute("%chat branch x branches")
    text = res.stderr + res.error_text
    assert res.status == "error" and "MESSAGE_ID must be a message number" in text and "usage" in text
