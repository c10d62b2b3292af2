"""RagService end to end: real LanceDB in tmp dirs, the real packaged MiniLM embedder."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_rag_support import HTML, MARKDOWN, PYTHON, write_docx, write_notebook, write_pdf

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from jupyter_chat_ext.rag.context import format_context
from jupyter_chat_ext.rag.service import RagService


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture
def rag(settings, embedder):
    svc = RagService(settings, embedder)
    yield svc
    svc.close()


def make_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "guide.md").write_text(MARKDOWN)
    (folder / "geo.py").write_text(PYTHON)
    (folder / "notes.txt").write_text("Badgers live in setts.\n\nOtters love rivers and fish.\n")
    (folder / "page.html").write_text(HTML)
    write_pdf(folder / "owls.pdf", ["Owls hunt mice at night.", "Barn owls nest in old barns."])
    write_docx(folder / "memo.docx", "Travel memo", [("Budget", "Trains to Lyon cost less than flights.")])
    write_notebook(
        folder / "nb.ipynb", [("markdown", "# Sales analysis"), ("code", "revenue = units * price")]
    )
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\n\x00\x01garbage that is no pdf at all")
    return folder


def sources(hits):
    return [h["source"] for h in hits]


def test_collection_lifecycle(rag: RagService):
    assert rag.list_collections() == []
    made = rag.create_collection("notes")
    assert made["name"] == "notes" and made["chunks"] == 0 and made["documents"] == 0
    assert made["embedding_model"] == "all-minilm-l6-v2"
    with pytest.raises(Conflict):
        rag.create_collection("notes")
    for bad in ["", "../x", "a b", "x" * 65, "-lead", None]:
        with pytest.raises(InvalidInput):
            rag.create_collection(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        rag.create_collection("other", embedding_model="text-embedding-3-large")
    assert [c["name"] for c in rag.list_collections()] == ["notes"]
    assert rag.get_collection("notes")["name"] == "notes"
    rag.delete_collection("notes")
    with pytest.raises(NotFound):
        rag.get_collection("notes")
    with pytest.raises(NotFound):
        rag.delete_collection("notes")
    with pytest.raises(NotFound):
        rag.search("notes", "anything")


def test_ingest_every_kind_skips_corrupt_and_cites(rag: RagService, tmp_path: Path):
    corpus = make_corpus(tmp_path / "corpus")
    rag.create_collection("kb")
    seen = []
    report = rag.ingest("kb", [corpus], root=tmp_path, progress=seen.append)
    assert report.skipped == [{"path": "corpus/corrupt.pdf", "reason": report.skipped[0]["reason"]}]
    assert "PDF" in report.skipped[0]["reason"]
    assert report.files_total == 8 and report.files_done == 8 and report.files_new == 7
    assert report.embedded == report.chunks > 0
    assert seen and seen[-1]["files_done"] == 8 and seen[-1]["chunks"] == report.chunks
    info = rag.get_collection("kb")
    assert info["documents"] == 7 and info["chunks"] == report.chunks and info["size_bytes"] > 0
    types = {h["file_type"] for h in rag.search("kb", "x", k=50, mode="vector")}
    assert types == {"md", "py", "txt", "html", "pdf", "docx", "ipynb"}

    owls = rag.search("kb", "where do barn owls nest", k=1, mode="vector")[0]
    assert owls["source"] == "corpus/owls.pdf" and owls["location"] == {"page": 2}
    tomato = rag.search("kb", "how much sun do tomatoes need", k=1)[0]
    assert tomato["source"] == "corpus/guide.md"
    assert tomato["location"]["heading"] == "Gardening guide > Tomatoes"
    area = rag.search("kb", "area of a circle", k=1, mode="vector")[0]
    assert area["source"] == "corpus/geo.py" and "circle_area" in area["location"]["symbols"]
    trains = rag.search("kb", "Lyon trains", k=1, mode="text")[0]
    assert trains["source"] == "corpus/memo.docx" and "Budget" in trains["location"]["heading"]
    revenue = rag.search("kb", "revenue", k=1, mode="text")[0]
    assert revenue["source"] == "corpus/nb.ipynb" and revenue["location"]["cells"] == [0, 1]


def test_incremental_reingest_changed_and_deleted(rag: RagService, embedder: Embedder, tmp_path: Path):
    corpus = make_corpus(tmp_path / "corpus")
    long_md = "# Handbook\n\n" + "\n\n".join(
        f"## Part {i}\n\nSection {i} explains rule {i} about the office kettle and the rota."
        for i in range(8)
    )
    (corpus / "handbook.md").write_text(long_md)
    rag.create_collection("kb")
    first = rag.ingest("kb", [corpus])
    before = {h["chunk_id"]: h for h in rag.search("kb", "x", k=100, mode="vector")}
    calls, texts = embedder.calls, embedder.texts_embedded

    again = rag.ingest("kb", [corpus])
    assert embedder.calls == calls and embedder.texts_embedded == texts  # zero embedding work
    assert again.embedded == 0 and again.chunks == 0 and again.files_unchanged == 8
    assert rag.get_collection("kb")["chunks"] == first.chunks

    # one section of one file changes: only that file's chunks are replaced, one text embedded
    (corpus / "handbook.md").write_text(
        long_md.replace("rule 3 about the office kettle", "rule 3 about bikes")
    )
    changed = rag.ingest("kb", [corpus])
    assert changed.files_changed == 1 and changed.files_unchanged == 7
    assert changed.embedded == 1 and embedder.texts_embedded == texts + 1
    handbook_chunks = [h for h in before.values() if h["source"].endswith("handbook.md")]
    assert changed.chunks == len(handbook_chunks) and changed.chunks_reused == len(handbook_chunks) - 1
    after = {h["chunk_id"]: h for h in rag.search("kb", "x", k=100, mode="vector")}
    others_before = {c for c, h in before.items() if not h["source"].endswith("handbook.md")}
    others_after = {c for c, h in after.items() if not h["source"].endswith("handbook.md")}
    assert others_before == others_after  # nobody else's chunks were touched
    assert len(after) == len(before)
    hit = rag.search("kb", "bikes", k=1, mode="text")[0]
    assert hit["source"].endswith("handbook.md") and hit["location"]["heading"] == "Handbook > Part 3"
    kettle = rag.search("kb", "kettle", k=100, mode="text")
    assert len(kettle) == 7 and not any("rule 3 about the office kettle" in h["text"] for h in kettle)

    # a deleted file drops out when its folder is ingested again
    (corpus / "notes.txt").unlink()
    gone = rag.ingest("kb", [corpus])
    assert gone.files_deleted == 1 and gone.embedded == 0
    assert not any(h["source"].endswith("notes.txt") for h in rag.search("kb", "badgers otters", k=100))
    assert rag.get_collection("kb")["documents"] == 7


def test_hybrid_beats_vector_on_rare_exact_term(rag: RagService, tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    topics = ["network client", "database pool", "http server", "message queue", "cache layer",
              "file uploader", "scheduler", "auth service"]  # fmt: skip
    for i, t in enumerate(topics):
        (src / f"note{i}.md").write_text(
            f"# {t.title()}\n\nThe {t} retry timeout settings control how long the {t} waits before it "
            "gives up and retries the request.\n"
        )
    (src / "batch.md").write_text(
        "# Nightly batch\n\nThe frobnicate_xq7 helper is called from the nightly batch job "
        "to tidy old records.\n"
    )
    rag.create_collection("code")
    rag.ingest("code", [src], root=tmp_path)
    query = "frobnicate_xq7 retry timeout settings"
    target = "src/batch.md"
    vector = sources(rag.search("code", query, k=5, mode="vector"))
    text = sources(rag.search("code", query, k=5, mode="text"))
    hybrid = sources(rag.search("code", query, k=5, mode="hybrid"))
    assert text[0] == target  # BM25 sees the rare identifier
    assert target not in vector  # the embedding alone misses it in the top 5
    assert hybrid[0] == target  # the fusion ranks the exact match first
    assert set(rag.search("code", query, k=1)[0]["scores"]) == {"vector", "text"}
    # reciprocal-rank fusion, the alternative, still keeps it in the top k where vector-only does not
    rrf = RagService(rag.settings, rag.embedder, fusion="rrf")
    try:
        assert target in sources(rrf.search("code", query, k=5))
    finally:
        rrf.close()


def test_filters(rag: RagService, tmp_path: Path):
    corpus = make_corpus(tmp_path / "corpus")
    (corpus / "sub").mkdir()
    (corpus / "sub" / "deep.md").write_text("# Deep\n\nOwls also appear in this markdown file.\n")
    rag.create_collection("kb")
    rag.ingest("kb", [corpus], root=tmp_path)
    only_pdf = rag.search("kb", "owls", k=10, filters={"file_type": "pdf"})
    assert only_pdf and {h["file_type"] for h in only_pdf} == {"pdf"}
    md_or_txt = rag.search("kb", "owls", k=10, mode="vector", filters={"file_type": ["md", "txt"]})
    assert md_or_txt and {h["file_type"] for h in md_or_txt} <= {"md", "txt"}
    deep = rag.search("kb", "owls", k=10, filters={"path_glob": "corpus/sub/*"})
    assert sources(deep) == ["corpus/sub/deep.md"]
    md = rag.search("kb", "owls", k=10, mode="text", filters={"path_glob": "*.md"})
    assert md and all(s.endswith(".md") for s in sources(md))
    none = rag.search("kb", "owls", k=10, filters={"path_glob": "nowhere/*"})
    assert none == []
    with pytest.raises(InvalidInput):
        rag.search("kb", "owls", filters={"colour": "red"})
    with pytest.raises(InvalidInput):
        rag.search("kb", "owls", filters={"file_type": "md'; DROP TABLE kb; --"})


def test_search_input_validation(rag: RagService):
    rag.create_collection("kb")
    for kwargs in [
        {"query": ""},
        {"query": "x", "k": 0},
        {"query": "x", "k": 1000},
        {"query": "x", "mode": "magic"},
    ]:
        with pytest.raises(InvalidInput):
            rag.search("kb", **kwargs)
    assert rag.search("kb", "empty collection") == []
    assert rag.search("kb", "quotes ' \" ( ) : AND OR -", mode="text") == []


def test_root_confinement_in_service(rag: RagService, tmp_path: Path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.md").write_text("# fine\n\ninside the root\n")
    secret = tmp_path / "secret.md"
    secret.write_text("# secret\n\nthe launch code is 0000\n")
    os.symlink(secret, root / "sneaky.md")
    rag.create_collection("kb")
    with pytest.raises(InvalidInput, match="outside"):
        rag.ingest("kb", ["../secret.md"], root=root)
    with pytest.raises(InvalidInput, match="outside"):
        rag.ingest("kb", ["sneaky.md"], root=root)
    with pytest.raises(InvalidInput, match="outside"):
        rag.start_ingest("kb", [str(secret)], root=root)  # refused before a job is queued
    report = rag.ingest("kb", ["."], root=root)
    assert {"path": "sneaky.md", "reason": "symlink points outside the root"} in report.skipped
    assert sources(rag.search("kb", "launch code", k=5)) == ["ok.md"]


def test_embedding_model_mismatch_refused(settings, rag: RagService, tmp_path: Path):
    (tmp_path / "a.md").write_text("# A\n\nSome text.\n")
    rag.create_collection("kb")
    rag.ingest("kb", [tmp_path / "a.md"])
    other = RagService(settings, Embedder(model_id="minilm-variant"))
    try:
        assert other.list_collections()[0]["embedding_model"] == "all-minilm-l6-v2"
        with pytest.raises(Conflict, match="all-minilm-l6-v2"):
            other.search("kb", "text")
        with pytest.raises(Conflict, match="minilm-variant"):
            other.ingest("kb", [tmp_path / "a.md"])
        with pytest.raises(Conflict):
            other.start_ingest("kb", [tmp_path / "a.md"])
    finally:
        other.close()


def test_background_job_progress(rag: RagService, tmp_path: Path):
    corpus = make_corpus(tmp_path / "corpus")
    rag.create_collection("kb")
    job = rag.start_ingest("kb", ["corpus"], root=tmp_path)
    assert job["state"] in ("queued", "running") and job["collection"] == "kb"
    deadline = time.monotonic() + 120
    while rag.get_job(job["id"])["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    done = rag.get_job(job["id"])
    assert done["state"] == "done" and done["error"] is None
    assert done["files_total"] == done["files_done"] == 8
    assert done["chunks"] == done["embedded"] == rag.get_collection("kb")["chunks"]
    assert [s["path"] for s in done["skipped"]] == ["corpus/corrupt.pdf"]
    assert done["rate"] > 0
    with pytest.raises(NotFound):
        rag.get_job("nope")
    failed = rag.start_ingest("kb", [str(corpus / "guide.md")])
    rag.delete_collection("kb")  # the job fails cleanly when its collection vanished
    deadline = time.monotonic() + 60
    while rag.get_job(failed["id"])["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert rag.get_job(failed["id"])["state"] in ("done", "failed")


def test_upload_and_reindex(rag: RagService, tmp_path: Path):
    rag.create_collection("kb")
    report = rag.add_upload("kb", "recipe.md", b"# Soup\n\nLeek and potato soup needs butter.\n")
    assert report.chunks == 1
    assert rag.search("kb", "leek soup", k=1)[0]["source"].endswith("recipe.md")
    with pytest.raises(PayloadTooLarge):
        rag.add_upload("kb", "big.txt", b"x" * 2048, max_bytes=1024)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nApples are red.\n")
    (folder / "b.md").write_text("# B\n\nBananas are yellow.\n")
    rag.ingest("kb", [folder])
    (folder / "b.md").unlink()
    (folder / "a.md").write_text("# A\n\nApricots are orange.\n")
    info = rag.reindex("kb")
    assert info["documents"] == 2  # recipe.md + a.md
    assert rag.search("kb", "apricots", k=1, mode="text")[0]["source"].endswith("a.md")
    assert rag.search("kb", "bananas", k=5, mode="text") == []


def test_format_context_numbers_and_budget(rag: RagService, embedder: Embedder, tmp_path: Path):
    corpus = make_corpus(tmp_path / "corpus")
    rag.create_collection("kb")
    rag.ingest("kb", [corpus], root=tmp_path)
    hits = rag.search("kb", "owls at night", k=4)
    text, citations = format_context(hits, 10_000, embedder.count_tokens)
    assert [c["index"] for c in citations] == [1, 2, 3, 4]
    for c, h in zip(citations, hits, strict=True):
        assert f"[{c['index']}] {h['source']}" in text
        assert {"source", "location", "score", "text"} <= set(c) and c["source"] == h["source"]
    assert "(p. 1)" in text or "(p. 2)" in text
    small_text, small = format_context(hits, 60, embedder.count_tokens)
    assert 1 <= len(small) < 4
    assert embedder.count_tokens(small_text) <= 60
    assert format_context([], 100, embedder.count_tokens) == ("", [])


def test_ann_index_built_past_threshold_and_still_exact_enough(rag: RagService, monkeypatch):
    """Synthetic vectors (fine for index mechanics): IVF_SQ appears past ANN_MIN_ROWS, finds neighbours."""
    import numpy as np
    import pyarrow as pa

    from jupyter_chat_ext.rag import index as rag_index

    monkeypatch.setattr(rag_index, "ANN_MIN_ROWS", 2000)
    rag.create_collection("big")
    n, dim = 3000, rag.embedder.dim
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    schema = rag_index.chunk_schema(dim)
    cols = {
        "chunk_id": [f"c{i}" for i in range(n)],
        "text": [f"row {i} word{i % 50}" for i in range(n)],
        "path": [f"/s/f{i // 10}.txt" for i in range(n)],
        "source": [f"s/f{i // 10}.txt" for i in range(n)],
        "file_type": ["txt"] * n,
        "file_hash": [f"h{i // 10}" for i in range(n)],
        "chunk_hash": [f"c{i}" for i in range(n)],
        "chunk_index": [i % 10 for i in range(n)],
        "location": ["{}"] * n,
    }
    arrays = {k: pa.array(v, type=schema.field(k).type) for k, v in cols.items()}
    arrays["vector"] = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), dim)
    rag.index.add("big", pa.table({f.name: arrays[f.name] for f in schema}, schema=schema))
    assert not rag.index.has_ann("big")
    done = rag.index.refresh_indexes("big")
    assert done.get("ann") == "trained" and done.get("fts") == "created"
    assert rag.index.has_ann("big") and rag.index.has_fts("big")
    found = 0
    for i in range(0, n, 150):
        hits = rag.index.vector_search("big", vectors[i], 1, None)
        found += hits[0]["chunk_id"] == f"c{i}"
    assert found >= 18  # of 20 queries, each a stored vector
    assert rag.index.refresh_indexes("big").get("ann") is None  # no retraining without growth


def test_optional_reranker_step(settings, embedder: Embedder, tmp_path: Path):
    from jupyter_chat_ext.rag.rerank import EmbeddingReranker, Reranker

    reranker = EmbeddingReranker(embedder)
    assert isinstance(reranker, Reranker)
    svc = RagService(settings, embedder, reranker=reranker)
    try:
        svc.create_collection("kb")
        svc.ingest("kb", [make_corpus(tmp_path / "corpus")], root=tmp_path)
        hits = svc.search("kb", "where do barn owls nest", k=3, mode="text")
        assert hits[0]["source"] == "corpus/owls.pdf"
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True)  # ordered by the reranker's own scores
        assert all(-1.0 <= s <= 1.0 for s in scores)  # cosines, not BM25
    finally:
        svc.close()


def test_search_while_a_background_ingest_runs(rag: RagService, tmp_path: Path):
    first = tmp_path / "first"
    first.mkdir()
    (first / "a.md").write_text("# Alpha\n\nAlpacas graze on the high plains.\n")
    rag.create_collection("kb")
    rag.ingest("kb", [first])
    more = tmp_path / "more"
    more.mkdir()
    for i in range(30):
        (more / f"n{i}.md").write_text(f"# Note {i}\n\nNote {i} is about river number {i} and its bridges.\n")
    job = rag.start_ingest("kb", [more])
    searches = 0
    deadline = time.monotonic() + 120
    while rag.get_job(job["id"])["state"] in ("queued", "running"):
        assert time.monotonic() < deadline
        hits = rag.search("kb", "alpacas", k=1)
        assert hits[0]["source"].endswith("a.md")  # old data stays searchable throughout
        searches += 1
    assert rag.get_job(job["id"])["state"] == "done"
    assert searches > 0
    assert rag.get_collection("kb")["documents"] == 31
    assert rag.search("kb", "river number 17", k=1, mode="text")[0]["source"].endswith("n17.md")
