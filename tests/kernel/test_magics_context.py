"""Notebook context from the kernel side, in a real kernel: ``--cell N``, ``--var NAME``, ``%chat fix``.

Each asks the real packaged model for a few tokens; what the test checks is what the turn carried:
the user message's ``metadata.context`` as the server stored it (the items the sidebar's chips send).
"""

from __future__ import annotations

from typing import Any

import pytest
from kernel_harness import Kernel

#: the stored context of the newest user message of the kernel's default session
LAST_CONTEXT = """
def _last_context():
    from jupyter_chat_ext.kernel.connection import get_client
    magics = get_ipython().magics_manager.registry["ChatMagics"]
    messages = get_client().list_messages(magics.last["session_id"], limit=1000)
    user = [m for m in messages if m["role"] == "user"][-1]
    return {"content": user["content"], "context": user["metadata"].get("context")}
"""


@pytest.fixture(scope="module")
def kernel(server_kernel: Kernel) -> Kernel:
    """A kernel of the shared test server (the server's core and model are built once per run)."""
    res = server_kernel.execute(LAST_CONTEXT)
    assert res.status == "ok", res.error_text
    return server_kernel


def last_context(kernel: Kernel) -> dict[str, Any]:
    return kernel.value("_last_context()")


def test_cell_and_var_context(kernel: Kernel) -> None:
    res = kernel.execute("import pandas as pd\nanswer = 40 + 2\nanswer")
    assert res.status == "ok", res.error_text
    number = res.reply["content"]["execution_count"]
    res = kernel.execute(
        "df = pd.DataFrame({'city': ['Oslo', 'Lima', 'Pune'], 'temp': [3.5, 19.0, 31.2]})\n"
        "class Sneaky:\n"
        "    touched = False\n"
        "    def __repr__(self):\n"
        "        Sneaky.touched = True\n"
        "        return 'sneaky'\n"
        "s = Sneaky()"
    )
    assert res.status == "ok", res.error_text

    res = kernel.execute(f"%%chat --cell {number} --var df --var s --max-tokens 2\nWhat is in these?")
    assert res.status == "ok", res.error_text
    stored = last_context(kernel)
    assert stored["content"] == "What is in these?"
    cell, frame, sneaky = stored["context"]
    assert cell["kind"] == "cell" and cell["label"] == f"In [{number}]"
    assert "answer = 40 + 2" in cell["text"] and "# Out:" in cell["text"] and "42" in cell["text"]
    assert frame["kind"] == "var" and frame["label"] == "df"
    assert "DataFrame shape=(3, 2)" in frame["text"] and "temp: float64" in frame["text"]
    assert "Pune" in frame["text"] and "31.2" in frame["text"]  # head()
    assert sneaky["label"] == "s" and "Sneaky object" in sneaky["text"]
    assert kernel.value("Sneaky.touched") is False  # its __repr__ (user code) never ran

    # clear refusals, and nothing sent
    for line, words in (
        ("%%chat --var nope\nq", "no variable 'nope'"),
        ("%%chat --var 'a b'\nq", "needs a variable name"),
        ("%%chat --cell 9999\nq", "no such cell"),
    ):
        res = kernel.execute(line)
        assert res.status == "error" and words in res.error_text + res.stderr, (line, res.error_text)
    assert last_context(kernel)["content"] == "What is in these?"


def test_fix_sends_the_last_error_and_its_cell(kernel: Kernel) -> None:
    res = kernel.execute("def ratio(a, b):\n    return a / b\n\nratio(1, 0)")
    assert res.status == "error" and "ZeroDivisionError" in res.error_text
    failing = res.reply["content"]["execution_count"]
    res = kernel.execute("%chat fix --max-tokens 2")
    assert res.status == "ok", res.error_text
    stored = last_context(kernel)
    assert "corrected cell" in stored["content"]
    cell, error = stored["context"]
    assert cell == {
        "kind": "cell",
        "label": f"In [{failing}]",
        "text": "def ratio(a, b):\n    return a / b\n\nratio(1, 0)",
    }
    assert error["kind"] == "error" and error["label"].startswith("ZeroDivisionError")
    assert "Traceback" in error["text"] and "return a / b" in error["text"]
    assert "\x1b[" not in error["text"]  # ANSI colours stripped
