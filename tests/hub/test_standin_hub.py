"""The stand-in Hub answers huggingface_hub's own client as the Hub does (the other hub tests rest on it)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import GatedRepoError, RemoteEntryNotFoundError, RepositoryNotFoundError
from standin_hub import EMBED_REPO, GATED_REPO, GGUF_FILE, GGUF_REPO


def test_list_and_info(standin_hub) -> None:
    api = HfApi(endpoint=standin_hub.url, token=False)
    found = [m.id for m in api.list_models(search="smollm2", filter="gguf", sort="downloads", limit=5)]
    assert found == [GGUF_REPO]
    info = api.model_info(GGUF_REPO, files_metadata=True)
    gguf = next(s for s in info.siblings if s.rfilename == GGUF_FILE)
    assert gguf.lfs is not None and gguf.lfs.size == gguf.size > 90_000_000
    folder = api.model_info(EMBED_REPO, revision="main", files_metadata=True)
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {s.rfilename for s in folder.siblings}


def test_download_range_and_errors(standin_hub, tmp_path) -> None:
    url = hf_hub_url(GGUF_REPO, GGUF_FILE, endpoint=standin_hub.url)
    meta = get_hf_file_metadata(url, token=False)
    path = hf_hub_download(GGUF_REPO, GGUF_FILE, endpoint=standin_hub.url, cache_dir=tmp_path, token=False)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert digest == meta.etag and standin_hub.bytes_sent == meta.size
    part = httpx.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and len(part.content) == 10
    assert not any(k.lower().startswith("x-xet") for k in part.headers)
    with pytest.raises(RepositoryNotFoundError):
        get_hf_file_metadata(hf_hub_url("nobody/nothing", "x.gguf", endpoint=standin_hub.url), token=False)
    with pytest.raises(RemoteEntryNotFoundError):
        get_hf_file_metadata(hf_hub_url(GGUF_REPO, "nope.gguf", endpoint=standin_hub.url), token=False)
    with pytest.raises(GatedRepoError):
        get_hf_file_metadata(hf_hub_url(GATED_REPO, GGUF_FILE, endpoint=standin_hub.url), token=False)
    assert get_hf_file_metadata(
        hf_hub_url(GATED_REPO, GGUF_FILE, endpoint=standin_hub.url), token=standin_hub.token
    )
