"""The model registry: list, describe, load, unload, delete; pull from the Hugging Face Hub.

A model's description is the engine's (``engine/models.py``, ``_describe``); these answers name
the fields the sidebar and clients read and allow the rest.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import Answer, Body
from .jobs import Job

__all__ = ["ConfigNote", "ModelDeleted", "ModelInfo", "ModelList", "PullAnswer", "PullRequest", "ToolsHint"]

ModelState = Literal["unloaded", "loading", "loaded", "error"]


class ToolsHint(Answer):
    likely: bool = Field(description="whether the model is likely to call tools well")
    reason: str


class ModelInfo(Answer):
    """One model the registry knows, and its state in the engine."""

    id: str = Field(description="the registry id (may contain slashes: owner/name:file-stem, provider/model)")
    kind: str = Field(description="chat, embedding (or rerank: a GGUF reranker)")
    source: str = Field(description="packaged, local, hub, hf-cache or remote")
    format: str = Field(description="gguf, hf or remote")
    path: str | None = Field(
        None, description="the folder or .gguf file; a remote model: its endpoint (never a key)"
    )
    architecture: str | None = None
    description: str | None = None
    backend: str | None = Field(None, description="which backend serves it: llamacpp, transformers, remote")
    size_bytes: int | None = None
    parameters: int | None = None
    context_length: int | None = None
    chat_template: bool | None = None
    state: ModelState
    progress: float | None = Field(None, description="load progress, 0 to 1")
    message: str | None = Field(None, description='what a load is doing now ("loading weights", ...)')
    device: str | None = Field(None, description="where it runs once loaded: cpu, cuda, mps")
    gpu_layers: int | None = Field(
        None, description="llama.cpp layers on the GPU (-1 all, 0 none); null for other backends"
    )
    dtype: str | None = None
    quantization: str | None = Field(
        None, description="transformers: bitsandbytes 4bit or 8bit; null when the weights loaded unquantized"
    )
    weight_bytes: int | None = Field(
        None, description="transformers: bytes the loaded weights hold, quantization state included"
    )
    error: Any = Field(None, description="why the last load failed")
    retry_in_s: float | None = Field(
        None, description="after a failed load: seconds until it may be tried again"
    )
    notes: list[str] | None = None
    stats: dict[str, Any] | None = Field(
        None,
        description="a loaded model's engine counters (steps, mean batch; llama.cpp: library, kv_layout, "
        "kv_lanes, prefill pacing); null when not loaded",
    )
    repo: str | None = Field(None, description="a pulled model: the Hub repo")
    file: str | None = Field(None, description="a pulled model: the GGUF file (null for a folder)")
    revision: str | None = Field(None, description="a pulled model: the commit sha")
    roles: list[str] | None = Field(None, description="the roles it serves now (GET /models)")
    tools_hint: ToolsHint | None = Field(None, description="chat models: are tool calls likely to work")


class ConfigNote(Answer):
    """A configured model source that is not in use, and why (a bad endpoint, a missing folder)."""

    setting: str
    item: str
    error: str


class ModelList(Answer):
    models: list[ModelInfo] = Field(description="every model the registry knows")
    notes: list[ConfigNote] = Field(default_factory=list)


class ModelDeleted(Answer):
    deleted: str = Field(description="the id of the removed model")


class PullRequest(Body):
    """``POST /models/pull``: one GGUF file (``{repo, file}``) or a safetensors folder (``{repo}``)."""

    repo: str = Field(min_length=1, max_length=200, description="owner/name")
    file: str | None = Field(
        None, max_length=500, description="one .gguf file of the repo; absent: the safetensors folder"
    )
    revision: str | None = Field(None, max_length=200, description="a branch, tag or commit (default: main)")


class PullAnswer(Answer):
    job: Job = Field(description="the pull job (poll GET /jobs/{job_id})")
    joined: bool = Field(description="true when the same file was already being pulled (its job)")
