"""Loaders on real files of each kind, folder walking, root confinement and uploads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_rag_support import HTML, MARKDOWN, PYTHON, write_docx, write_notebook, write_pdf

from jupyter_chat_ext.errors import InvalidInput, NotFound, PayloadTooLarge
from jupyter_chat_ext.rag.loaders import LoadError, discover, load_file, resolve_input, save_upload


def test_text_markdown_code(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("plain words here\n\nsecond paragraph")
    (tmp_path / "guide.md").write_text(MARKDOWN)
    (tmp_path / "geo.py").write_text(PYTHON)
    (tmp_path / "app.ts").write_text("export function add(a: number, b: number) { return a + b; }\n")
    txt = load_file(tmp_path / "notes.txt")
    assert txt.file_type == "txt" and txt.sections[0].kind == "prose"
    assert "second paragraph" in txt.text
    md = load_file(tmp_path / "guide.md")
    assert md.file_type == "md" and md.sections[0].kind == "markdown"
    py = load_file(tmp_path / "geo.py")
    assert py.sections[0].kind == "code" and py.sections[0].language == "python"
    ts = load_file(tmp_path / "app.ts")
    assert ts.file_type == "ts" and ts.sections[0].language == "typescript"


def test_pdf_pages(tmp_path: Path):
    pdf = write_pdf(tmp_path / "report.pdf", ["First page about owls.", "Second page about badgers."])
    doc = load_file(pdf)
    assert doc.file_type == "pdf"
    assert [s.location["page"] for s in doc.sections] == [1, 2]
    assert "owls" in doc.sections[0].text and "badgers" in doc.sections[1].text


def test_docx_headings_become_markdown(tmp_path: Path):
    path = write_docx(tmp_path / "memo.docx", "Quarterly memo", [("Budget", "We spent less on travel.")])
    doc = load_file(path)
    assert doc.file_type == "docx"
    assert "# Quarterly memo" in doc.text
    assert "## Budget" in doc.text
    assert "We spent less on travel." in doc.text


def test_html_visible_text_only(tmp_path: Path):
    (tmp_path / "page.html").write_text(HTML)
    doc = load_file(tmp_path / "page.html")
    assert doc.file_type == "html"
    assert "# Lighthouses" in doc.text and "## Modern lights" in doc.text
    assert "var x" not in doc.text and "menu" not in doc.text


def test_notebook_cells_and_optional_outputs(tmp_path: Path):
    nb = write_notebook(
        tmp_path / "analysis.ipynb",
        [("markdown", "# Analysis\nWe load data."), ("code", "print('hello')"), ("code", "")],
        outputs={1: "hello from output\n"},
    )
    doc = load_file(nb)
    assert doc.file_type == "ipynb"
    assert [s.location["cell"] for s in doc.sections] == [0, 1]  # the empty cell is dropped
    assert "hello from output" not in doc.text
    with_out = load_file(nb, include_outputs=True)
    assert "hello from output" in with_out.text


@pytest.mark.parametrize(
    "name,content",
    [
        ("broken.pdf", b"%PDF-1.4 garbage \x00\x01\x02 not really a pdf"),
        ("broken.docx", b"PK\x03\x04 not a zip"),
        ("broken.ipynb", b"{ not json"),
        ("binary.txt", b"\x00\x01\x02\x03" * 100),
    ],
)
def test_corrupt_files_raise_load_error(tmp_path: Path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError):
        load_file(path)


def test_discover_skips_hidden_deps_build_gitignored(tmp_path: Path):
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.py").write_text("x = 1\n")
    (root / "README.md").write_text("# Project\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.md").write_text("no")
    (root / ".env.md").write_text("no")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text("no")
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "main.py").write_text("no")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("no")
    (root / "logs").mkdir()
    (root / "logs" / "run.txt").write_text("ignored by .gitignore")
    (root / "src" / "gen_tmp.py").write_text("ignored by nested .gitignore")
    (root / "src" / ".gitignore").write_text("gen_*.py\n")
    (root / ".gitignore").write_text("logs/\n")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "data.xyz").write_text("unknown extension")
    (root / "drafts").mkdir()
    (root / "drafts" / "a.md").write_text("excluded by caller")
    found = discover([root], exclude=["drafts/"])
    rel = sorted(p.relative_to(root).as_posix() for p in found.files)
    assert rel == ["README.md", "src/main.py"]
    assert found.folders == [root.resolve()]


def test_root_confinement_traversal_and_symlink_escape(tmp_path: Path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "docs").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.md").write_text("# secret\n")
    (root / "docs" / "ok.md").write_text("# ok\n")
    os.symlink(outside / "secret.md", root / "docs" / "link.md")
    os.symlink(outside, root / "escape")
    assert resolve_input("docs/ok.md", root) == (root / "docs" / "ok.md").resolve()
    with pytest.raises(InvalidInput, match="outside"):
        resolve_input("../outside/secret.md", root)
    with pytest.raises(InvalidInput, match="outside"):
        resolve_input(str(outside / "secret.md"), root)
    with pytest.raises(InvalidInput, match="outside"):
        resolve_input("escape/secret.md", root)  # a symlinked folder pointing out
    with pytest.raises(InvalidInput, match="outside"):
        resolve_input("docs/link.md", root)  # a symlinked file pointing out
    with pytest.raises(NotFound):
        resolve_input("docs/missing.md", root)
    # walking: the escaping symlink is skipped with a reason, the rest is found
    found = discover(["docs"], root=root)
    assert [p.name for p in found.files] == ["ok.md"]
    assert found.skipped == [{"path": "docs/link.md", "reason": "symlink points outside the root"}]
    # without a root, a user's own paths are fine
    assert resolve_input(outside / "secret.md") == (outside / "secret.md").resolve()


def test_save_upload_limits_and_names(tmp_path: Path):
    dest = tmp_path / "uploads"
    path = save_upload("../../evil/notes.md", b"# hi\n", dest)
    assert path == dest / "notes.md" and path.read_text() == "# hi\n"
    with pytest.raises(PayloadTooLarge):
        save_upload("big.txt", b"x" * 101, dest, max_bytes=100)
    with pytest.raises(InvalidInput):
        save_upload("..", b"x", dest)
    with pytest.raises(InvalidInput):
        save_upload("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00", dest)
    assert not (dest / "photo.png").exists()


def test_walk_refuses_too_many_files(tmp_path: Path):
    for i in range(6):
        (tmp_path / f"f{i}.txt").write_text("x")
    assert len(discover([tmp_path], max_files=6).files) == 6
    with pytest.raises(PayloadTooLarge, match="more than 5 files"):
        discover([tmp_path], max_files=5)
