"""The reranker step of RAG search: a remote ``/v1/rerank`` (a real HTTP server on 127.0.0.1) and a
reranker GGUF through llama.cpp's rank pooling (a random-weight BERT made and converted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.rag.rerank import LlamaCppReranker, make_reranker
from jupyter_chat_ext.rag.service import RagService
from jupyter_chat_ext.settings import Settings

NOTES = {
    "kettle.md": "# Kitchen\n\nThe office kettle is descaled every Friday by the facilities team.\n",
    "bikes.md": "# Transport\n\nBikes are parked in the basement rack; the code is on the door.\n",
    "owls.md": "# Wildlife\n\nBarn owls nest in the old barn and hunt mice at night.\n",
    "tea.md": "# Kitchen rules\n\nTea and coffee are free; wash your own cup after use.\n",
}


class StandInRerank(BaseHTTPRequestHandler):
    """A stand-in for llama-server's / vLLM's ``POST /v1/rerank`` (mechanics, not relevance): it scores
    each document by how many of the words listed in ``favour`` it holds, and records each request."""

    favour: tuple[str, ...] = ("owls", "barn")
    status = 200
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if type(self).status != 200:
            self.send_response(type(self).status)
            self.end_headers()
            return
        scores = [sum(w in doc.lower() for w in type(self).favour) for doc in body["documents"]]
        order = sorted(range(len(scores)), key=lambda i: -scores[i])[: body["top_n"]]
        payload = json.dumps({"results": [{"index": i, "relevance_score": float(scores[i])} for i in order]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rerank_server() -> Iterator[str]:
    StandInRerank.seen = []
    StandInRerank.status = 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInRerank)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def make_notes(root: Path) -> Path:
    folder = root / "notes"
    folder.mkdir(parents=True)
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    return folder


def test_remote_rerank_orders_the_hits_and_reports_its_time(tmp_path: Path, embedder, rerank_server):
    settings = Settings(
        data_dir=tmp_path / "data",
        remote_endpoints=[{"name": "rr", "base_url": rerank_server, "api_key": "sk-test"}],
        rerank_model="rr/bge-reranker-v2-m3",
    )
    rag = RagService(settings, embedder)
    try:
        rag.create_collection("kb")
        rag.ingest("kb", [make_notes(tmp_path)], root=tmp_path)
        plain = RagService(Settings(data_dir=tmp_path / "data"), embedder)
        fused = plain.search_detailed("kb", "kitchen kettle", k=4)
        plain.close()
        assert fused["reranker"] is None and fused["rerank_ms"] is None
        assert fused["results"][0]["source"] == "notes/kettle.md"

        found = rag.search_detailed("kb", "kitchen kettle", k=4)
        assert found["reranker"] == "rr/bge-reranker-v2-m3"
        assert isinstance(found["rerank_ms"], float) and found["rerank_ms"] >= 0
        assert found["results"][0]["source"] == "notes/owls.md"  # the stand-in favours owls
        request = StandInRerank.seen[-1]
        assert request["path"] == "/v1/rerank" and request["auth"] == "Bearer sk-test"
        assert request["body"]["model"] == "bge-reranker-v2-m3"
        assert request["body"]["query"] == "kitchen kettle"
        assert request["body"]["top_n"] == len(request["body"]["documents"]) == 4
        owls = [h["source"] for h in fused["results"]].index("notes/owls.md")
        assert "Barn owls" in request["body"]["documents"][owls]  # the fused order, full texts
    finally:
        rag.close()


def test_a_failing_reranker_leaves_the_fused_order(tmp_path: Path, embedder, rerank_server):
    StandInRerank.status = 503
    settings = Settings(
        data_dir=tmp_path / "data",
        remote_endpoints=[{"name": "rr", "base_url": rerank_server}],
        rerank_model="rr/any",
    )
    rag = RagService(settings, embedder)
    try:
        rag.create_collection("kb")
        rag.ingest("kb", [make_notes(tmp_path)], root=tmp_path)
        found = rag.search_detailed("kb", "kitchen kettle", k=2)
        assert found["results"][0]["source"] == "notes/kettle.md"
        assert "HTTP 503" in found["rerank_error"]
        settings.rerank_model = "nowhere/any"  # read at each search: a change applies at once
        found = rag.search_detailed("kb", "kitchen kettle", k=2)
        assert found["results"] and "neither a reranker .gguf" in found["rerank_error"]
        settings.rerank_model = None
        assert "rerank_error" not in rag.search_detailed("kb", "kitchen kettle", k=2)
    finally:
        rag.close()


def test_make_reranker_refuses_what_it_cannot_run():
    assert make_reranker(None, Settings()) is None
    with pytest.raises(InvalidInput):
        make_reranker("no-such-endpoint/model", Settings())
    assert isinstance(make_reranker("/models/bge-reranker.gguf", Settings()), LlamaCppReranker)


# -- llama.cpp rank pooling --------------------------------------------------------------------
CONVERT_ENV = "LLAMA_CPP_CONVERT"


@pytest.fixture(scope="module")
def tiny_reranker(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A random-weight BertForSequenceClassification (1 label) and its llama.cpp GGUF."""
    convert = os.environ.get(CONVERT_ENV)
    if not convert or not Path(convert).is_file():
        pytest.skip(
            f"set {CONVERT_ENV} to llama.cpp's convert_hf_to_gguf.py (it ships in the llama-cpp-python "
            "sdist under vendor/llama.cpp; no wheel carries it) to make a reranker GGUF here"
        )
    pytest.importorskip("llama_cpp")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from jupyter_chat_ext.engine.embeddings import packaged_model_dir

    folder = tmp_path_factory.mktemp("tiny-reranker")
    hf = folder / "hf"
    tok = AutoTokenizer.from_pretrained(str(packaged_model_dir()))
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        num_labels=1,
    )
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(hf)
    tok.save_pretrained(hf)
    gguf = folder / "tiny-reranker.gguf"
    env = {**os.environ, "PYTHONPATH": str(Path(convert).parent / "gguf-py")}
    subprocess.run(
        [sys.executable, convert, str(hf), "--outtype", "f32", "--outfile", str(gguf)],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    return hf, gguf


def test_llamacpp_rank_pooling_scores_like_the_model(tiny_reranker):
    import torch
    from transformers import BertForSequenceClassification

    hf, gguf = tiny_reranker
    reranker = LlamaCppReranker(gguf, n_threads=1)
    query = "remove common leading whitespace"
    docs = ["def dedent(text): remove common leading whitespace", "the heap queue", "cats and dogs"]
    try:
        scores = reranker.scores(query, docs)
        assert scores == reranker.scores(query, docs)  # deterministic
        # the reference: the same weights in torch over the same tokens. llama.cpp's converter drops
        # BERT's pooler, so its rank head is the classifier on the [CLS] state
        model = BertForSequenceClassification.from_pretrained(hf).eval()
        for doc, score in zip(docs, scores, strict=True):
            ids = torch.tensor([reranker._pair(reranker._load(), query, doc)])
            with torch.no_grad():
                hidden = model.bert(input_ids=ids, token_type_ids=torch.zeros_like(ids)).last_hidden_state
                want = model.classifier(hidden[:, 0]).item()
            assert abs(score - want) < 1e-3 * max(1.0, abs(want))
        ranked = reranker.rerank(query, [{"text": d, "score": 0.0} for d in docs])
        assert [h["score"] for h in ranked] == sorted(scores, reverse=True)
    finally:
        reranker.close()
