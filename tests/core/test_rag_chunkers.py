"""Structure-aware chunking with the real MiniLM tokenizer: budgets, boundaries, locations."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from test_rag_support import MARKDOWN, PYTHON, write_notebook, write_pdf

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.rag.chunkers import Chunker, describe_location
from jupyter_chat_ext.rag.loaders import load_file


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def chunker(embedder: Embedder) -> Chunker:
    return Chunker(embedder.count_tokens_batch, max_tokens=64, overlap_tokens=24)


def test_markdown_splits_at_headings_and_keeps_heading_path(tmp_path: Path, chunker: Chunker):
    (tmp_path / "g.md").write_text(MARKDOWN)
    chunks = chunker.chunk(load_file(tmp_path / "g.md"))
    headings = [c.location.get("heading") for c in chunks]
    assert headings == ["Gardening guide", "Gardening guide > Tomatoes", "Gardening guide > Compost"]
    tomato = chunks[1]
    assert tomato.text.startswith("Gardening guide > Tomatoes")
    assert "six hours" in tomato.text and "Compost" not in tomato.text
    assert tomato.location["lines"] == [7, 7]
    assert describe_location(tomato.location) == "line 7 · Gardening guide > Tomatoes"


def test_python_by_function_and_class(tmp_path: Path, embedder: Embedder):
    (tmp_path / "geo.py").write_text(PYTHON)
    small = Chunker(embedder.count_tokens_batch, max_tokens=40)
    chunks = small.chunk(load_file(tmp_path / "geo.py"))
    by_symbol = {s: c for c in chunks for s in c.location.get("symbols", [])}
    assert "circle_area" in by_symbol and "Rectangle" in by_symbol and "Rectangle.area" in by_symbol
    area = by_symbol["circle_area"]
    assert "def circle_area" in area.text and "class Rectangle" not in area.text
    assert area.location["lines"][1] == 8
    assert all(c.kind == "code" for c in chunks)
    # no chunk starts or ends inside a definition: every def line begins a chunk or follows one
    lines = PYTHON.split("\n")
    for c in chunks:
        a, b = c.location["lines"]
        assert "\n".join(lines[a - 1 : b]).strip() == c.text.strip()


def test_big_class_splits_at_methods(embedder: Embedder):
    methods = "\n\n".join(
        f"    def method_{i}(self, value):\n        total = value * {i} + {i}\n        return total - {i}"
        for i in range(12)
    )
    source = f"class Big:\n    '''A big class.'''\n\n{methods}\n"
    from jupyter_chat_ext.rag.loaders.documents import Document, Section

    doc = Document("big.py", "py", [Section(source, "code", language="python")])
    chunks = Chunker(embedder.count_tokens_batch, max_tokens=80).chunk(doc)
    assert len(chunks) > 2
    assert all(embedder.count_tokens(c.text) <= 80 for c in chunks)
    assert chunks[0].text.startswith("class Big:")
    for c in chunks[1:]:
        assert c.text.lstrip().startswith("def method_")


def test_prose_budget_and_sentence_overlap(embedder: Embedder):
    from jupyter_chat_ext.rag.loaders.documents import Document, Section

    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(60)]
    text = " ".join(sentences)  # one long paragraph
    doc = Document("long.txt", "txt", [Section(text, "prose")])
    chunker = Chunker(embedder.count_tokens_batch, max_tokens=100, overlap_tokens=30)
    chunks = chunker.chunk(doc)
    assert len(chunks) >= 5
    counts = [embedder.count_tokens(c.text) for c in chunks]
    assert max(counts) <= 100
    for prev, nxt in itertools.pairwise(chunks):
        last_sentence = re.split(r"(?<=\.)\s+", prev.text)[-1].strip()
        assert nxt.text.startswith(last_sentence), "the next chunk repeats the last sentence"
        assert "\n" not in nxt.text  # sentences of one paragraph stay joined by spaces
    joined = " ".join(c.text for c in chunks)
    for s in sentences:
        assert s in joined  # nothing lost


def test_unbroken_text_is_split_to_fit(embedder: Embedder):
    from jupyter_chat_ext.rag.loaders.documents import Document, Section

    doc = Document("x.txt", "txt", [Section("supercalifragilistic " * 400, "prose")])
    chunks = Chunker(embedder.count_tokens_batch, max_tokens=120).chunk(doc)
    assert all(embedder.count_tokens(c.text) <= 120 for c in chunks)
    assert sum(c.text.count("supercalifragilistic") for c in chunks) >= 400


def test_notebook_cell_groups(tmp_path: Path, chunker: Chunker):
    cells = [("markdown", "# Load data")] + [("code", f"df{i} = load('file_{i}.csv')") for i in range(12)]
    cells += [("markdown", "# Plot"), ("code", "df.plot()")]
    nb = write_notebook(tmp_path / "n.ipynb", cells)
    chunks = chunker.chunk(load_file(nb))
    assert 1 < len(chunks) < len(cells)
    first = chunks[0]
    assert first.location.get("cells", [None])[0] == 0 and first.location["heading"] == "Load data"
    assert chunks[-1].location.get("heading") in ("Load data", "Plot")
    covered = set()
    for c in chunks:
        if "cell" in c.location:
            covered.add(c.location["cell"])
        else:
            a, b = c.location["cells"]
            covered.update(range(a, b + 1))
    assert covered == set(range(len(cells)))


def test_pdf_chunks_cite_pages(tmp_path: Path, chunker: Chunker):
    pdf = write_pdf(tmp_path / "r.pdf", ["Owls hunt at night.", "Badgers dig setts."])
    chunks = chunker.chunk(load_file(pdf))
    assert [c.location for c in chunks] == [{"page": 1}, {"page": 2}]
    assert describe_location(chunks[1].location) == "p. 2"
