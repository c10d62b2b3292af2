"""One bad file never fails a folder: each is skipped with a reason, the rest is indexed (issue 13).

Real files on disk: a name that is not UTF-8 (made with bytes paths), a file that cannot be read, a
file that vanishes mid-run, corrupt PDF and DOCX, a .docx zip bomb, a notebook with lone surrogates.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
from test_rag_support import write_docx

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.rag.clean import has_surrogates, printable_path
from jupyter_chat_ext.rag.loaders import LoadError, load_file
from jupyter_chat_ext.rag.loaders.zipguard import check_zip
from jupyter_chat_ext.rag.service import RagService

BOMB_MIB = 80


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def write_bomb(path: Path, mib: int = BOMB_MIB) -> Path:
    """A .docx-shaped zip whose document.xml inflates to ``mib`` MiB (a few hundred KB on disk)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w") as entry:
            block = b" " * (1 << 20)
            for _ in range(mib):
                entry.write(block)
    return path


def test_zip_guard_checks_declared_sizes_before_parsing(tmp_path: Path):
    bomb = write_bomb(tmp_path / "bomb.docx")
    assert bomb.stat().st_size < 1024 * 1024
    with pytest.raises(LoadError, match="decompression bomb"):
        check_zip(bomb)
    with pytest.raises(LoadError, match="decompression bomb"):
        load_file(bomb)  # the .docx loader runs the guard before python-docx
    real = write_docx(tmp_path / "ok.docx", "Memo", [("Budget", "Trains cost less.")])
    check_zip(real)
    with pytest.raises(LoadError, match="zip entries"):
        check_zip(real, max_entries=2)
    with pytest.raises(LoadError, match="not a valid zip"):
        check_zip(_junk(tmp_path))


def _junk(tmp_path: Path) -> Path:
    path = tmp_path / "junk.docx"
    path.write_bytes(b"PK\x03\x04 this is no zip at all")
    return path


def test_printable_path_has_no_lone_surrogates():
    name = os.fsdecode(b"caf\xe9.txt")
    assert has_surrogates(name)
    shown = printable_path(name)
    assert shown == "caf\\xe9.txt" and not has_surrogates(shown)
    assert printable_path("\ud800x") == "\\xed\\xa0\\x80x"
    assert printable_path("plain/é.md") == "plain/é.md"


def test_bad_files_are_skipped_with_reasons_and_the_rest_is_indexed(settings, embedder, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a_good.md").write_text("# Kettles\n\nThe blue kettle is descaled on Fridays.\n")
    (folder / "b_vanishes.txt").write_text("This file is deleted while the ingest runs.\n")
    (folder / "c_good.txt").write_text("Bicycles are parked in the basement rack.\n")
    bad_name = os.path.join(os.fsencode(folder), b"d_caf\xe9.txt")
    with open(bad_name, "wb") as fh:  # a Latin-1 file name: not valid UTF-8
        fh.write(b"Coffee is served at ten.\n")
    (folder / "e_corrupt.pdf").write_bytes(b"%PDF-1.7\n\x00\x01garbage that is no pdf at all")
    (folder / "f_corrupt.docx").write_bytes(b"PK\x03\x04 definitely not a docx")
    write_bomb(folder / "g_bomb.docx")
    nb = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Owls \ud800 hunt at night"}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / "h_lone_surrogate.ipynb").write_text(json.dumps(nb))  # json escapes it as \ud800
    locked = folder / "i_locked.txt"
    locked.write_text("Nobody may read this.\n")
    locked.chmod(0)
    root_user = os.geteuid() == 0  # root reads a 0o000 file anyway

    rag = RagService(settings, embedder)
    try:
        rag.create_collection("kb")

        def vanish(progress: dict) -> None:
            if progress["files_done"] == 1:  # after a_good: b_vanishes goes before it is read
                (folder / "b_vanishes.txt").unlink(missing_ok=True)

        report = rag.ingest("kb", [folder], root=tmp_path, progress=vanish)
    finally:
        locked.chmod(0o644)
    try:
        reasons = {s["path"]: s["reason"] for s in report.skipped}
        assert "not valid UTF-8" in reasons.pop("docs/d_caf\\xe9.txt")
        assert "cannot read" in reasons.pop("docs/b_vanishes.txt")
        assert "PDF" in reasons.pop("docs/e_corrupt.pdf")
        assert "not a valid zip" in reasons.pop("docs/f_corrupt.docx")
        assert "decompression bomb" in reasons.pop("docs/g_bomb.docx")
        if not root_user:
            assert "cannot read" in reasons.pop("docs/i_locked.txt")
        assert reasons == {}, reasons

        indexed = {"docs/a_good.md", "docs/c_good.txt", "docs/h_lone_surrogate.ipynb"}
        if root_user:
            indexed.add("docs/i_locked.txt")
        arrow = rag.index.table("kb").search().select(["path", "source", "text"]).limit(None).to_arrow()
        assert set(arrow["source"].to_pylist()) == indexed
        for column in ("path", "source", "text"):
            assert not any(has_surrogates(v) for v in arrow[column].to_pylist()), column
        owl = next(
            t
            for s, t in zip(arrow["source"].to_pylist(), arrow["text"].to_pylist(), strict=True)
            if "ipynb" in s
        )
        assert "Owls \ufffd hunt" in owl
        # the report is valid UTF-8 JSON (a lone surrogate would fail to encode)
        json.dumps(report.to_dict(), ensure_ascii=False).encode("utf-8")
        assert rag.search("kb", "who descales the kettle", k=1)[0]["source"] == "docs/a_good.md"
    finally:
        rag.close()


def test_a_job_reports_skipped_files_and_persists_them_cleanly(settings, embedder, tmp_path: Path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.md").write_text("# Tea\n\nGreen tea is brewed at 80 degrees.\n")
    with open(os.path.join(os.fsencode(folder), b"bad\xff.md"), "wb") as fh:
        fh.write(b"# Bad\n\nA name with a 0xff byte.\n")
    rag = RagService(settings, embedder)
    try:
        rag.create_collection("kb")
        job = rag.start_ingest("kb", ["docs"], root=tmp_path)
        done = rag.jobs.wait(job["id"], timeout=120)
        assert done["state"] == "done" and done["chunks"] == 1
        assert done["skipped"] == [
            {
                "path": "docs/bad\\xff.md",
                "reason": done["skipped"][0]["reason"],
            }
        ]
        on_disk = (Path(settings.data_dir) / "jobs" / f"{job['id']}.json").read_text()
        assert "bad\\\\xff.md" in on_disk and "\\udc" not in on_disk
    finally:
        rag.close()
