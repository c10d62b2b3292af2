"""What a new user meets first, in real kernels, local and server mode (issues 14 and 12).

Help generated from the one declaration, the model's load progress in the first answer's output,
``--out``, one ``created_at`` dtype, and ``%chat continue`` after an interrupted answer.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from kernel_harness import Execution, JupyterServer, Kernel

from jupyter_chat_ext.kernel import spec

MODEL = "smollm2-135m-instruct"
SETUP = (
    "from jupyter_chat_ext.kernel.connection import get_client as _gc\n"
    "_magics = get_ipython().magics_manager.registry['ChatMagics']\n"
)


@pytest.fixture(params=["local", "server"])
def kernel(request: pytest.FixtureRequest) -> Kernel:
    """The module's local kernel or the one talking to the real server (both from conftest)."""
    return request.getfixturevalue(f"{request.param}_kernel")


def is_server(kernel: Kernel) -> bool:
    kernel.execute(SETUP)
    return kernel.value("_gc().mode") == "server"


def interrupt_after(kernel: Kernel, updates: int) -> tuple[dict, object]:
    seen = {"updates": 0, "sent": False}

    def on_message(msg: dict) -> None:  # counts updates of the answer, not of a model load
        if msg["msg_type"] == "update_display_data" and "text/markdown" in msg["content"]["data"]:
            seen["updates"] += 1
            if seen["updates"] == updates and not seen["sent"]:
                seen["sent"] = True
                kernel.interrupt()

    return seen, on_message


def newest_answer(kernel: Kernel, session_expr: str) -> dict:
    kernel.execute(SETUP)
    return kernel.value(f"_gc().list_messages({session_expr})[-1]")


# -- help from the declaration ---------------------------------------------------------------------
def test_help_comes_from_the_declaration(local_kernel: Kernel) -> None:
    res = local_kernel.execute("%%chat?")
    assert res.status == "ok"
    page = "".join(
        p["data"]["text/plain"] for p in res.reply["content"]["payload"] if p.get("source") == "page"
    )
    printed = local_kernel.execute("%chat help")
    assert printed.status == "ok", printed.error_text
    for text in (page, printed.stdout):
        for option in spec.OPTIONS:
            assert option.usage() in text and option.help in text
        for command in spec.COMMANDS:
            assert command.usage() in text and command.summary in text
    # a usage error quotes the same declaration
    res = local_kernel.execute("%chat export only-one-word")
    assert res.status == "error"
    assert f"usage: {spec.COMMANDS_BY_NAME['export'].usage()}" in res.stderr + res.error_text


def test_kernel_modules_import_without_a_circle() -> None:
    """commands.py and magics.py used to import each other; no module of kernel/ may now."""
    import ast
    from pathlib import Path

    graph: dict[str, set[str]] = {}
    for path in Path(spec.__file__).parent.glob("*.py"):
        imports: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:  # from .x import y
                    imports.add(node.module.split(".")[0])
                else:  # from . import x, y
                    imports.update(alias.name for alias in node.names)
        graph[path.stem] = imports

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph.get(start, ()))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph.get(name, ()))
        return seen

    assert "commands" in graph["magics"]
    circles = sorted(m for m in graph if m in reachable(m))
    assert not circles, f"import circles through {circles}"


# -- load progress ---------------------------------------------------------------------------------
def load_lines(res: Execution) -> list[str]:
    return [t for t in res.data("text/plain") if t.startswith(("loading ", "loaded "))]


def test_the_first_answer_shows_the_model_load(kernel: Kernel, jupyter_server: JupyterServer) -> None:
    if is_server(kernel):
        resp = httpx.post(
            jupyter_server.url + f"chat-ext/models/{MODEL}/unload", headers=jupyter_server.headers, timeout=60
        )
        assert resp.status_code == 200, resp.text
    else:
        assert kernel.execute(f"%chat unload {MODEL}").status == "ok"
    res = kernel.execute("%%chat --no-history --max-tokens 8\nSay hi.")
    assert res.status == "ok", res.error_text
    lines = load_lines(res)
    assert lines and lines[0].startswith(f"loading {MODEL}: ")
    assert lines[-1].startswith(f"loaded {MODEL} in ")
    # the load lines and the answer are separate outputs; the load is one display updated in place
    first = res.of_type("display_data")[0]
    assert first["content"]["data"]["text/plain"].startswith(f"loading {MODEL}")
    load_id = first["content"]["transient"]["display_id"]
    updates = [
        u for u in res.of_type("update_display_data") if u["content"]["transient"]["display_id"] == load_id
    ]
    assert updates and updates[-1]["content"]["data"]["text/plain"] == lines[-1]
    assert "<progress" in first["content"]["data"]["text/html"]
    # a second answer finds the model loaded: no load output
    res = kernel.execute("%%chat --no-history --max-tokens 4\nSay hi.")
    assert res.status == "ok", res.error_text
    assert load_lines(res) == []


# -- --out -----------------------------------------------------------------------------------------
def test_out_stores_the_answer_in_a_variable(kernel: Kernel) -> None:
    res = kernel.execute("%%chat --no-history --max-tokens 12 --seed 3 --out answer\nName a colour.")
    assert res.status == "ok", res.error_text
    text = kernel.value("answer")
    assert isinstance(text, str) and text.strip()
    kernel.execute(SETUP)
    stored = kernel.value("_gc().list_messages(_magics.last['session_id'])[-1]['content']")
    assert text == stored
    res = kernel.execute("%%chat --no-history --out 'not a name'\nhi")
    assert res.status == "error" and "--out needs a Python variable name" in res.stderr + res.error_text


# -- created_at: one dtype in both modes ------------------------------------------------------------
def test_history_created_at_is_utc_datetime(kernel: Kernel) -> None:
    assert kernel.execute("%%chat --session dtype-check --max-tokens 4\nHi").status == "ok"
    res = kernel.execute("_h = %chat history dtype-check\n_s = %chat sessions dtype-check")
    assert res.status == "ok", res.error_text
    assert kernel.value("str(_h['created_at'].dtype)") == "datetime64[ns, UTC]"
    assert kernel.value("str(_s['updated_at'].dtype)") == "datetime64[ns, UTC]"
    assert kernel.value("bool(_h['created_at'].notna().all())")
    # recent, not an epoch or a local-time shift
    age = kernel.value(
        "(__import__('pandas').Timestamp.now(tz='UTC') - _h['created_at'].max()).total_seconds()"
    )
    assert 0 <= age < 600


# -- %chat continue --------------------------------------------------------------------------------
def test_continue_carries_on_an_interrupted_answer(kernel: Kernel) -> None:
    session = f"continue-{uuid.uuid4().hex[:8]}"
    seen, on_message = interrupt_after(kernel, 3)
    res = kernel.execute(
        f"%%chat --session {session} --max-tokens 300\nWrite a long story about a dragon who bakes bread.",
        on_message=on_message,
    )
    assert seen["sent"] and res.status == "ok", res.error_text
    kernel.execute(SETUP)
    session_id = kernel.value("_magics.last['session_id']")
    expr = f"'{session_id}'"
    deadline = time.monotonic() + 30  # the server stores the partial when it sees the stream closed
    while (partial := newest_answer(kernel, expr))["status"] != "interrupted":
        assert time.monotonic() < deadline, partial
        time.sleep(0.2)
    assert partial["content"].strip()
    res = kernel.execute(f"%chat continue --session {session} --max-tokens 8 --out whole")
    assert res.status == "ok", res.error_text
    answer = newest_answer(kernel, expr)
    assert answer["id"] == partial["id"]
    assert answer["status"] == "complete"
    assert answer["content"].startswith(partial["content"]) and len(answer["content"]) > len(
        partial["content"]
    )
    assert kernel.value("whole") == answer["content"]
    # the display shows the whole message: the kept partial, then what was added
    assert answer["content"] in res.data("text/markdown")
    # nothing left to continue: a clear one-line error
    res = kernel.execute(f"%chat continue --session {session}")
    assert res.status == "error"
    assert "no interrupted answer to continue" in res.error_text and "Traceback" not in res.error_text
