"""Reproducible report answers: provenance, identical re-runs, the opt-in response cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

from jupyter_chat_ext.kernel.report import answer_questions, cache_key, file_sha256

QUESTIONS = ["What is the capital of France?", "Name a primary colour."]


def test_answers_carry_provenance_and_repeat_exactly(local_service) -> None:
    first = answer_questions(local_service, QUESTIONS, seed=3, max_tokens=16)
    second = answer_questions(local_service, QUESTIONS, seed=3, max_tokens=16)
    assert [a.answer for a in first] == [a.answer for a in second]
    assert all(a.answer.strip() for a in first)
    info = local_service.get_model(first[0].provenance["model"])
    digest = (
        hashlib.sha256(Path(info["path"]).read_bytes()).hexdigest() if Path(info["path"]).is_file() else None
    )
    for a in first:
        p = a.provenance
        assert p["model"] == "smollm2-135m-instruct"
        if digest is not None:
            assert p["model_hash"] == "sha256:" + digest
        assert p["options"] == {"temperature": 0.0, "max_tokens": 16, "seed": 3}
        assert p["seed"] == 3 and p["mode"] == "local"
        assert not a.cached
        assert a.metrics["completion_tokens"] <= 16 and a.metrics["tokens_per_s"] > 0
        assert a.metrics["ttft_s"] > 0
        stored = local_service.list_messages(p["session_id"])
        assert stored[-1]["content"] == a.answer


def test_cache_serves_the_same_answers_without_generating(local_service) -> None:
    first = answer_questions(local_service, QUESTIONS, seed=0, max_tokens=12, use_cache=True)
    sessions_before = len(local_service.list_sessions(limit=500))
    again = answer_questions(local_service, QUESTIONS, seed=0, max_tokens=12, use_cache=True)
    assert [a.cached for a in first] == [False, False]
    assert [a.cached for a in again] == [True, True]
    assert [a.answer for a in again] == [a.answer for a in first]
    assert [a.metrics for a in again] == [a.metrics for a in first]
    assert len(local_service.list_sessions(limit=500)) == sessions_before, "a cache hit generates nothing"
    # any change of seed or options is a different key: generated anew
    other = answer_questions(local_service, QUESTIONS[:1], seed=1, max_tokens=12, use_cache=True)
    assert not other[0].cached


def test_cache_key_covers_model_prompt_and_options() -> None:
    messages = [{"role": "user", "content": "hi"}]
    opts = {"temperature": 0.0, "max_tokens": 8, "seed": 0}
    base = cache_key("sha256:a", messages, opts)
    assert base == cache_key("sha256:a", [dict(m) for m in messages], dict(opts))
    assert base != cache_key("sha256:b", messages, opts)
    assert base != cache_key("sha256:a", [{"role": "user", "content": "hi!"}], opts)
    assert base != cache_key("sha256:a", messages, {**opts, "seed": 1})


def test_rag_answers_list_their_sources(local_service, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "owls.md").write_text("# Owls\n\nOwls hunt at night and can turn their heads far around.\n")
    (docs / "bread.md").write_text("# Bread\n\nBread rises because yeast makes carbon dioxide.\n")
    local_service.ingest("report-kb", [str(docs)])
    [answer] = answer_questions(
        local_service, ["Why does bread rise?"], collection="report-kb", max_tokens=16
    )
    assert answer.sources and answer.sources[0]["source"].endswith("bread.md")
    assert answer.provenance["collection"] == "report-kb"


def test_file_hash_matches_hashlib(tmp_path: Path) -> None:
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x" * 3_000_000)
    assert file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()
