"""Hidden files follow Jupyter's contents API (issue 19): ``/context/file`` and ingest answer 404
for a path with a component starting with '.' (as named or after a symlink), exactly where
``GET /api/contents`` does, unless ``ContentsManager.allow_hidden`` is set. Before, the same
server read ``.hidden/secret.txt`` through /context/file; with the root at $HOME, ``.ssh/``."""

from __future__ import annotations

import os

from server_testlib import assert_error, on_jp_loop

from jupyter_chat_ext.chat.context_file import read_context_file
from jupyter_chat_ext.errors import NotFound
from jupyter_chat_ext.rag.loaders.walk import discover


def hidden_tree(root):
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.txt").write_text("the key is 1234")
    (root / ".env").write_text("TOKEN=abc")
    (root / "notes.txt").write_text("plain notes")
    os.symlink(root / ".hidden" / "secret.txt", root / "innocent.txt")


@on_jp_loop
async def test_context_file_refuses_hidden_paths_like_the_contents_api(api, jp_fetch, jp_root_dir):
    hidden_tree(jp_root_dir)
    for path in (".hidden/secret.txt", ".env", "innocent.txt", "./.hidden/../.env"):
        reply = await api.post("context/file", body={"path": path})
        assert_error(reply, 404, "not_found")
        assert "1234" not in reply.body.decode() and "abc" not in reply.body.decode()
    # Jupyter's own contents API says the same for the same files
    for path in (".hidden/secret.txt", ".env"):
        try:
            await jp_fetch("api", "contents", path)
            raise AssertionError(f"the contents API served {path}")
        except Exception as exc:  # tornado's HTTPClientError
            assert getattr(exc, "code", None) == 404, exc
    assert (await api.post("context/file", body={"path": "notes.txt"})).json["text"] == "plain notes"


def test_the_core_follows_allow_hidden(tmp_path):
    hidden_tree(tmp_path)
    for path in (".hidden/secret.txt", ".env", "innocent.txt"):
        try:
            read_context_file(path, tmp_path)
            raise AssertionError(f"read {path}")
        except NotFound:
            pass
        try:
            discover([path], root=tmp_path)
            raise AssertionError(f"ingest took {path}")
        except NotFound:
            pass
    # ContentsManager.allow_hidden = True: what the contents API shows can be read
    assert read_context_file(".hidden/secret.txt", tmp_path, allow_hidden=True)["text"] == "the key is 1234"
    found = discover([".hidden"], root=tmp_path, allow_hidden=True)
    assert [p.name for p in found.files] == ["secret.txt"]
    # a folder's walk skips hidden entries either way
    assert [p.name for p in discover(["."], root=tmp_path).files] == ["notes.txt"]
