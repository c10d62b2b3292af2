"""Hub search and file listings against the stand-in Hub (real HTTP on 127.0.0.1, huggingface_hub
unchanged)."""

from __future__ import annotations

import socket

import pytest
from standin_hub import EMBED_REPO, GATED_REPO, GGUF_FILE, GGUF_REPO

from jupyter_chat_ext.errors import Forbidden, InvalidInput, NotFound, Unavailable
from jupyter_chat_ext.hub.hardware import build_profile
from jupyter_chat_ext.hub.search import repo_files, search_models

HARDWARE = build_profile(
    "/tmp",
    meminfo_text="MemTotal: 8000000 kB\nMemAvailable: 6000000 kB\n",
    tegra_text="",
    gpus=[],
    llama={"installed": True, "version": "0.3.36", "gpu_offload": False, "backends": ["CPU"]},
)
GGUF_TAGS = ["gguf", "text-generation", "conversational"]


def test_search_puts_gguf_repos_first(standin_hub):
    # a transformers repo with far more downloads still comes after the GGUF one
    standin_hub.add_repo(
        "standin/SmolLM2-135M-Instruct",
        {"model.safetensors": b"x" * 64, "config.json": b"{}"},
        tags=["safetensors", "text-generation"],
        pipeline_tag="text-generation",
        downloads=10**6,
    )
    models = search_models("smollm2", "chat", limit=10)
    repos = [m["repo"] for m in models]
    assert repos[0] in (GGUF_REPO, GATED_REPO) and repos[-1] == "standin/SmolLM2-135M-Instruct"
    first = next(m for m in models if m["repo"] == GGUF_REPO)
    assert first["gguf"] is True and first["downloads"] == 1200 and first["likes"] == 30
    assert first["pipeline_tag"] == "text-generation" and "gguf" in first["tags"]
    assert first["updated"].startswith("2026-11-01")


def test_search_by_kind(standin_hub):
    standin_hub.add_repo(
        "standin/Tiny-Coder-GGUF",
        {"tiny-coder-Q8_0.gguf": b"GGUF" + b"\0" * 60},
        tags=GGUF_TAGS,
        pipeline_tag="text-generation",
    )
    standin_hub.add_repo(
        "standin/bge-reranker-GGUF",
        {"r-Q4_K_M.gguf": b"GGUF" + b"\0" * 60},
        tags=["gguf"],
        pipeline_tag="text-ranking",
    )
    assert [m["repo"] for m in search_models(None, "embedding")] == [EMBED_REPO]
    assert [m["repo"] for m in search_models(None, "code")] == ["standin/Tiny-Coder-GGUF"]
    assert [m["repo"] for m in search_models(None, "rerank")] == ["standin/bge-reranker-GGUF"]
    # a cross-encoder under the Hub's text-ranking task is a reranker whatever its name
    standin_hub.add_repo(
        "standin/ms-marco-MiniLM", {"model.safetensors": b"x" * 8}, pipeline_tag="text-ranking"
    )
    assert "standin/ms-marco-MiniLM" in [m["repo"] for m in search_models("ms-marco", "rerank")]
    chat = [m["repo"] for m in search_models(None, "chat")]
    assert "standin/Tiny-Coder-GGUF" in chat and EMBED_REPO not in chat
    assert len(search_models(None, None, limit=2)) == 2


def test_search_refuses_a_bad_kind_or_limit(standin_hub):
    with pytest.raises(InvalidInput):
        search_models("x", "poetry")
    with pytest.raises(InvalidInput):
        search_models("x", None, limit=0)


def test_files_of_a_gguf_repo(standin_hub):
    listing = repo_files(GGUF_REPO, None, HARDWARE, installed=lambda repo, file: file == GGUF_FILE)
    assert listing["repo"] == GGUF_REPO and listing["revision"] == standin_hub.repos[GGUF_REPO].sha
    (entry,) = listing["files"]
    assert entry["file"] == GGUF_FILE and entry["format"] == "gguf" and entry["quant"] == "Q4_1"
    assert entry["size_bytes"] == standin_hub.repos[GGUF_REPO].files[GGUF_FILE].size
    assert entry["fits"]["verdict"] == "cpu" and entry["fits"]["needed_bytes"] > entry["size_bytes"]
    assert entry["installed"] is True
    assert listing["gated"] is False


def test_files_group_split_parts_and_list_a_folder_once(standin_hub):
    parts = {f"big-Q8_0-0000{i}-of-00003.gguf": b"GGUF" + bytes([i]) * 100 for i in (1, 2, 3)}
    standin_hub.add_repo(
        "standin/split-GGUF", {**parts, "big-Q4_K_M.gguf": b"GGUF" + b"\1" * 50}, tags=["gguf"]
    )
    files = repo_files("standin/split-GGUF", "main", HARDWARE)["files"]
    assert [(f["file"], f["size_bytes"], f["quant"]) for f in files] == [
        ("big-Q4_K_M.gguf", 54, "Q4_K_M"),
        ("big-Q8_0-00001-of-00003.gguf", 312, "Q8_0"),
    ]
    (folder,) = repo_files(EMBED_REPO, None, HARDWARE)["files"]
    assert folder["file"] is None and folder["format"] == "safetensors" and folder["installed"] is False
    assert folder["size_bytes"] >= standin_hub.repos[EMBED_REPO].files["model.safetensors"].size


def test_a_gated_repo_lists_its_files_and_names_hf_token(standin_hub):
    listing = repo_files(GATED_REPO, None, HARDWARE)
    assert listing["gated"] is True and "HF_TOKEN" in listing["note"]


def test_unknown_repo_and_revision_are_404(standin_hub):
    with pytest.raises(NotFound) as exc:
        repo_files("standin/no-such-repo", None, HARDWARE)
    assert exc.value.code == "repo_not_found" and exc.value.status == 404
    with pytest.raises(NotFound) as exc:
        repo_files(GGUF_REPO, "0" * 40, HARDWARE)
    assert exc.value.code == "revision_not_found"
    with pytest.raises(InvalidInput):
        repo_files("not-a-repo-id", None, HARDWARE)


def test_offline_mode_is_503_before_any_request(standin_hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    standin_hub.reset_counters()
    with pytest.raises(Unavailable) as exc:
        search_models("smollm2")
    assert exc.value.code == "hub_unreachable" and "HF_HUB_OFFLINE" in exc.value.message
    assert standin_hub.requests == []


def test_an_unreachable_hub_is_503(standin_hub, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(Unavailable) as exc:
        repo_files(GGUF_REPO, None, HARDWARE)
    assert exc.value.code == "hub_unreachable" and exc.value.status == 503


def test_a_gated_file_without_a_token_is_403_naming_hf_token(standin_hub):
    from huggingface_hub import get_hf_file_metadata

    from jupyter_chat_ext.hub.hub_errors import hub_call

    url = f"{standin_hub.url}/{GATED_REPO}/resolve/main/{GGUF_FILE}"
    with pytest.raises(Forbidden) as exc:  # the real client's GatedRepoError, translated
        hub_call(get_hf_file_metadata, url, token=False, repo=GATED_REPO)
    assert exc.value.code == "gated_repo" and exc.value.status == 403 and "HF_TOKEN" in exc.value.message
