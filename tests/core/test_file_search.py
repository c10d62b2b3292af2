"""``@file:`` lookups across the server root (chat/file_search.py): fuzzy, hidden files only with
allow_hidden, nothing reached through a symlink out of the root."""

from __future__ import annotations

import os

import pytest

from jupyter_chat_ext.chat.file_search import find_files, parse_query, score
from jupyter_chat_ext.errors import InvalidInput


@pytest.fixture
def root(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "gui.md").write_text("# the GUI")
    (tmp_path / "docs" / "guide-to-install.md").write_text("steps")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "graphical_ui.py").write_text("x = 1")
    (tmp_path / "notes.ipynb").write_text("{}")
    (tmp_path / ".secrets").mkdir()
    (tmp_path / ".secrets" / "gui-token.txt").write_text("s3cret")
    (tmp_path / ".gui.env").write_text("KEY=1")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "gui.js").write_text("")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "gui-outside.md").write_text("not for the chat")
    os.symlink(outside, tmp_path / "linked")
    return tmp_path


def test_a_name_is_found_in_any_folder_best_first(root):
    found = [f["path"] for f in find_files(root, "gui")]
    assert found[0] == "docs/gui.md"  # the exact name first
    assert found[1] == "docs/guide-to-install.md"  # then a name that starts with it
    assert "src/graphical_ui.py" in found  # letters in order still match
    assert find_files(root, "notes")[0] == {"path": "notes.ipynb", "name": "notes.ipynb", "type": "notebook"}


def test_hidden_vendored_and_linked_files_stay_out(root):
    found = [f["path"] for f in find_files(root, "gui", 100)]
    assert not any(p.startswith(".") or "/." in p for p in found)
    assert "node_modules/gui.js" not in found
    assert not any("outside" in p for p in found)  # the symlink out of the root is not followed
    shown = [f["path"] for f in find_files(root, "gui", 100, allow_hidden=True)]
    assert ".secrets/gui-token.txt" in shown and ".gui.env" in shown


def test_scores_and_bad_queries():
    assert score("docs/gui.md", "gui.md") == 100
    assert score("docs/gui.md", "zzz") == 0
    with pytest.raises(InvalidInput):
        parse_query("  ", None)
    with pytest.raises(InvalidInput):
        parse_query("gui", "1000")
    assert parse_query(" gui ", "5") == ("gui", 5)
