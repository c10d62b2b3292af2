"""When an agent turn ends without a call, does the request clearly ask for one? (issue 20)"""

from __future__ import annotations

from jupyter_chat_ext.chat.tool_intent import asked_for_tool, no_call_note

TOOLS = ["insert_cell", "run_cell", "read_notebook"]


def test_a_named_tool_or_a_cell_imperative_asks_for_a_call():
    assert asked_for_tool("Use insert_cell to add a greeting.", TOOLS) == "insert_cell"
    assert asked_for_tool("Please add a cell that prints hello", TOOLS) == "add a cell"
    assert asked_for_tool("Run cell 3 again", TOOLS) == "Run cell"
    assert asked_for_tool("delete the last two cells of the notebook", TOOLS) is not None


def test_a_question_asks_for_none():
    assert asked_for_tool("What is a Python decorator?", TOOLS) is None
    assert asked_for_tool("Explain how cells share variables.", TOOLS) is None
    assert asked_for_tool("my_insert_cell_helper is slow, why?", TOOLS) is None  # not the tool's name


def test_the_note_names_what_was_asked():
    note = no_call_note("Add a cell with x = 1", TOOLS)
    assert note is not None and "'Add a cell'" in note and "Models view" in note
    assert no_call_note("Hello there", TOOLS) is None
