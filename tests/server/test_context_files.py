"""``GET /chat-ext/context/files``: ``@file:`` names found anywhere under the server root (issue 20),
never a hidden file (unless the contents API shows them) nor one reached through a link out."""

from __future__ import annotations

import os

from server_testlib import assert_error, on_jp_loop


@on_jp_loop
async def test_context_files_fuzzy_confined_and_without_hidden(api, jp_root_dir, tmp_path):
    (jp_root_dir / "docs").mkdir()
    (jp_root_dir / "docs" / "gui.md").write_text("# the GUI")
    (jp_root_dir / ".private").mkdir()
    (jp_root_dir / ".private" / "gui-notes.md").write_text("hidden")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "gui-secret.md").write_text("top secret")
    os.symlink(outside, jp_root_dir / "linked")

    reply = await api.get("context/files", params={"q": "gui"})
    assert reply.code == 200, reply.body
    paths = [f["path"] for f in reply.json["files"]]
    assert paths[0] == "docs/gui.md"
    assert not any("private" in p or "secret" in p for p in paths)
    assert reply.json["files"][0] == {"path": "docs/gui.md", "name": "gui.md", "type": "file"}
    assert_error(await api.get("context/files", params={"q": ""}), 400)
    assert_error(await api.get("context/files", params={"q": "gui", "limit": "0"}), 400)
