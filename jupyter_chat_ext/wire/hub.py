"""The model hub: this machine's hardware, Hub search and a repo's files, the catalog, roles.

The shapes are built by ``jupyter_chat_ext/hub/`` (hardware.py, search.py, catalog.py, roles.py);
these answers name the fields the Models tab reads (labextension/src/models/types.ts).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from .base import Answer, Body, Query
from .fields import EMPTY_IS_ABSENT, NonBlank

__all__ = [
    "Catalog",
    "CatalogEntry",
    "Fits",
    "Hardware",
    "HubFile",
    "HubFiles",
    "HubFilesQuery",
    "HubModel",
    "HubSearch",
    "HubSearchQuery",
    "Roles",
    "RolesUpdate",
]

#: the roles the catalog and search sort models into ("code" models serve the inline role)
HubRole = Literal["chat", "code", "embedding", "rerank"]


class Fits(Answer):
    """Whether a model fits this machine: weights + KV cache at 4,096 tokens + 10 % + 300 MiB."""

    verdict: Literal["gpu", "cpu", "no"]
    needed_bytes: int
    note: str


class Cpu(Answer):
    cores: int
    model: str | None = None
    features: list[str] = Field(description="avx2, avx512f, neon, ... (what llama.cpp can use)")


class Ram(Answer):
    total_bytes: int
    available_bytes: int


class Disk(Answer):
    path: str = Field(description="where pulled models go (hub_dir)")
    free_bytes: int


class Gpu(Answer):
    index: int
    name: str
    vram_total_bytes: int
    vram_free_bytes: int | None = None
    source: str = Field(description="nvml, nvidia-smi, torch or jetson")


class Jetson(Answer):
    detected: bool
    release: str | None = None
    unified_memory: bool | None = None


class LlamaCpp(Answer):
    installed: bool
    version: str | None = None
    gpu_offload: bool | None = None
    backends: list[str] | None = None


class Hardware(Answer):
    """This machine (cached a few seconds): what decides which models fit."""

    cpu: Cpu
    ram: Ram
    disk: Disk
    gpus: list[Gpu]
    jetson: Jetson
    llama_cpp: LlamaCpp


class HubSearchQuery(Query):
    q: str | None = Field(None, max_length=200, description="words in the repo name")
    kind: Annotated[HubRole | None, EMPTY_IS_ABSENT] = Field(
        None, description="the role to search models for"
    )
    limit: int = Field(20, ge=1, le=100)


class HubModel(Answer):
    repo: str
    gguf: bool = Field(description="the repo holds GGUF files (listed first)")
    downloads: int | None = None
    likes: int | None = None
    updated: str | None = None
    pipeline_tag: str | None = None
    tags: list[str] = Field(default_factory=list)


class HubSearch(Answer):
    models: list[HubModel]


class HubFilesQuery(Query):
    repo: NonBlank = Field(min_length=1, max_length=200, description="owner/name")
    revision: str | None = Field(None, max_length=200, description="a branch, tag or commit (default: main)")


class HubFile(Answer):
    file: str | None = Field(description="a GGUF file (split parts: the first); null: the safetensors folder")
    size_bytes: int
    format: Literal["gguf", "safetensors"]
    quant: str | None
    parts: list[str] | None = None
    fits: Fits
    installed: bool


class HubFiles(Answer):
    repo: str
    revision: str | None = Field(description="the commit sha")
    gated: bool | None = None
    files: list[HubFile]


class CatalogEntry(Answer):
    id: str
    role: HubRole
    name: str
    repo: str
    file: str | None
    parameters: int
    quant: str | None = None
    size_bytes: int
    context_length: int | None = None
    licence: str | None = None
    fim: bool | None = Field(None, description="has fill-in-the-middle tokens (inline completion)")
    tools: bool | None = None
    notes: str | None = None
    fits: Fits
    installed: bool
    model_id: str | None = Field(description="its id once pulled")


class Suggested(Answer):
    chat: str | None = None
    code: str | None = None
    embedding: str | None = None
    rerank: str | None = None


class Catalog(Answer):
    """Recommended models by role (data, not a promise; search is the live source)."""

    entries: list[CatalogEntry]
    suggested: Suggested = Field(description="the catalog id picked per role for this machine")
    hardware: Hardware


class RoleModels(Answer):
    chat: str | None = None
    inline: str | None = None
    embedding: str | None = None
    rerank: str | None = None


class Roles(Answer):
    """The models of each role: configured (after roles.json) and used now (``effective``)."""

    chat: str
    inline: str | None
    embedding: str
    rerank: str | None
    effective: RoleModels = Field(description="what is used now (inline: the pick when unset)")
    saved: RoleModels | None = Field(None, description="what roles.json holds")


class RolesUpdate(Body):
    """``PUT /roles``: the roles to change (saved in <data_dir>/roles.json); null unsets inline/rerank.

    404 for an unknown model, 400 for the wrong kind (an embedding model as chat ...).
    """

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})  # the core says so at run time

    chat: str | None = Field(None, min_length=1, max_length=500, description="a chat model id (not null)")
    inline: str | None = Field(None, min_length=1, max_length=500, description="a chat model with FIM tokens")
    embedding: str | None = Field(
        None, min_length=1, max_length=500, description="an embedding model id (not null)"
    )
    rerank: str | None = Field(None, min_length=1, max_length=500, description="a reranker (or any model)")
