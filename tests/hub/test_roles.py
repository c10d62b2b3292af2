"""Roles: saved in roles.json, laid over Settings at start and at once; 404/400 refusals write nothing;
the inline default prefers a pulled GGUF with fill-in-the-middle tokens."""

from __future__ import annotations

import json

import pytest

from jupyter_chat_ext.engine.engine import Engine
from jupyter_chat_ext.errors import InvalidInput, NotFound
from jupyter_chat_ext.hub import roles
from jupyter_chat_ext.settings import Settings

CHAT = "smollm2-135m-instruct"
EMBED = "all-minilm-l6-v2"


@pytest.fixture
def lazy_engine(settings):
    eng = Engine(settings)  # nothing loads: roles only read the registry
    yield eng
    eng.close()


def test_view_shows_config_and_effective(lazy_engine):
    view = roles.roles_view(lazy_engine)
    assert view["chat"] == CHAT and view["embedding"] == EMBED and view["inline"] is None
    assert view["effective"]["inline"] == CHAT  # no pulled FIM model: the chat model
    assert "rerank" in view and view["saved"] == {}


def test_update_saves_applies_and_survives_a_restart(lazy_engine, settings):
    view = roles.update_roles(lazy_engine, {"inline": CHAT, "rerank": None})
    assert view["inline"] == CHAT and view["effective"]["inline"] == CHAT
    assert lazy_engine.settings.inline_model == CHAT
    saved = json.loads(roles.roles_path(settings).read_text())
    assert saved == {"inline": CHAT, "rerank": None}
    fresh = Settings(data_dir=settings.data_dir)
    assert fresh.inline_model is None
    roles.apply_saved_roles(fresh)
    assert fresh.inline_model == CHAT


def test_refusals_write_nothing(lazy_engine, settings):
    with pytest.raises(NotFound):
        roles.update_roles(lazy_engine, {"chat": "no-such-model"})
    with pytest.raises(InvalidInput) as exc:
        roles.update_roles(lazy_engine, {"chat": EMBED})  # an embedding model cannot chat
    assert exc.value.code == "wrong_model_kind" and exc.value.status == 400
    with pytest.raises(InvalidInput):
        roles.update_roles(lazy_engine, {"embedding": CHAT})
    with pytest.raises(InvalidInput):
        roles.update_roles(lazy_engine, {"chat": None})  # only inline and rerank may be null
    with pytest.raises(InvalidInput):
        roles.update_roles(lazy_engine, {"inline": CHAT, "colour": "blue"})  # all or nothing
    with pytest.raises(InvalidInput):
        roles.update_roles(lazy_engine, {})
    assert not roles.roles_path(settings).exists()
    assert lazy_engine.settings.inline_model is None


def test_a_broken_roles_file_is_ignored(settings):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    roles.roles_path(settings).write_text("{not json")
    roles.apply_saved_roles(settings)
    assert settings.default_model == CHAT


def _gguf(path, fim: bool) -> None:
    """A header-only GGUF (enough for the registry's reader and the FIM check)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_context_length(1024)
    if fim:
        writer.add_uint32("tokenizer.ggml.fim_pre_token_id", 1)
        writer.add_uint32("tokenizer.ggml.fim_suf_token_id", 2)
        writer.add_uint32("tokenizer.ggml.fim_mid_token_id", 3)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_inline_prefers_the_smallest_pulled_fim_model(tmp_path):
    for name, fim in (("coder-small", True), ("coder-big", True), ("chatty", False)):
        _gguf(tmp_path / f"{name}.gguf", fim)
    with (tmp_path / "coder-big.gguf").open("ab") as f:
        f.write(b"\0" * 4096)

    def model(name: str, source: str = "hub") -> dict:
        path = tmp_path / f"{name}.gguf"
        return {
            "id": name,
            "kind": "chat",
            "source": source,
            "format": "gguf",
            "path": str(path),
            "size_bytes": path.stat().st_size,
        }

    assert (
        roles.pulled_fim_model([model("chatty"), model("coder-big"), model("coder-small")]) == "coder-small"
    )
    assert roles.pulled_fim_model([model("chatty"), model("coder-small", source="local")]) is None
    assert roles.has_fim({"format": "gguf", "path": str(tmp_path / "missing.gguf")}) is False


def test_the_rerank_role_gives_rag_the_rerankers_file(tmp_path):
    import gguf

    folder = tmp_path / "models"
    folder.mkdir()
    writer = gguf.GGUFWriter(str(folder / "tiny-reranker.gguf"), "bert")
    writer.add_pooling_type(gguf.PoolingType.RANK)  # what llama.cpp's converter writes for a reranker
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    settings = Settings(data_dir=tmp_path / "data", model_dirs=[folder], scan_hf_cache=False)
    engine = Engine(settings)
    try:
        assert engine.registry.get("tiny-reranker").kind == "rerank"
        with pytest.raises(InvalidInput):
            roles.update_roles(engine, {"rerank": CHAT})
        view = roles.update_roles(engine, {"rerank": "tiny-reranker"})
        # RAG's make_reranker takes a .gguf path; the roles show the model id
        assert settings.rerank_model == str(folder / "tiny-reranker.gguf")
        assert view["rerank"] == "tiny-reranker" and view["effective"]["rerank"] == "tiny-reranker"
        fresh = Settings(data_dir=tmp_path / "data", model_dirs=[folder], scan_hf_cache=False)
        roles.apply_saved_roles(fresh)
        assert fresh.rerank_model == str(folder / "tiny-reranker.gguf")
        roles.update_roles(engine, {"rerank": None})
        assert settings.rerank_model is None
    finally:
        engine.close()
