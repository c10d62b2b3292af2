"""Base URLs of the OpenAI-compatible servers people already run (their documented defaults)."""

from __future__ import annotations

from typing import TypedDict


class Preset(TypedDict):
    id: str
    label: str
    base_url: str
    #: whether the server wants a key (OpenAI does; local servers accept any or none)
    needs_key: bool
    #: the usual environment variable for its key, if any
    key_env: str | None


PRESETS: list[Preset] = [
    {
        "id": "ollama",
        "label": "Ollama",
        "base_url": "http://localhost:11434/v1",
        "needs_key": False,
        "key_env": None,
    },
    {
        "id": "lmstudio",
        "label": "LM Studio",
        "base_url": "http://localhost:1234/v1",
        "needs_key": False,
        "key_env": None,
    },
    {
        "id": "llama-server",
        "label": "llama.cpp server",
        "base_url": "http://localhost:8080/v1",
        "needs_key": False,
        "key_env": None,
    },
    {
        "id": "vllm",
        "label": "vLLM",
        "base_url": "http://localhost:8000/v1",
        "needs_key": False,
        "key_env": None,
    },
    {
        "id": "openai",
        "label": "OpenAI",
        "base_url": "https://api.openai.com/v1",
        "needs_key": True,
        "key_env": "OPENAI_API_KEY",
    },
]
PRESET_IDS = frozenset(p["id"] for p in PRESETS)
