"""Engine backends behind one protocol (``base.py``), and the rule that picks one per model.

- ``remote``: models of an OpenAI-compatible endpoint (``Settings.remote_endpoints``);
- ``llamacpp``: every ``.gguf`` whenever llama-cpp-python imports (quantized weights stay
  quantized: ~4x the tokens/s of dequantized transformers on the packaged model, 0.2 s loads);
- ``transformers``: HF folders, the HF cache, and GGUF when llama.cpp is missing or not wanted.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from ..registry import ModelInfo
from .base import Backend

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def llama_cpp_problem() -> str | None:
    """None when llama-cpp-python imports here, else why not (cached: the import loads a C library)."""
    try:
        import llama_cpp  # noqa: F401
    except Exception as exc:  # ImportError, or OSError from a broken shared library
        return f"llama-cpp-python is not usable here ({type(exc).__name__}: {exc})"
    return None


def choose(info: ModelInfo, settings: Any) -> tuple[str, list[str]]:
    """The backend name for ``info`` and notes that explain a fallback."""
    if info.source == "remote":
        return "remote", []
    wanted = getattr(settings, "backend", "auto") or "auto"
    if info.format != "gguf":
        notes = []
        if wanted == "llamacpp":
            notes.append("backend 'llamacpp' serves .gguf files only; this model uses transformers")
        return "transformers", notes
    if wanted == "transformers":
        return "transformers", ["backend 'transformers' chosen in settings: the GGUF is dequantized"]
    problem = llama_cpp_problem()
    if problem is None:
        return "llamacpp", []
    return "transformers", [f"{problem}; the GGUF is dequantized by transformers instead (slower)"]


def get_backend(name: str, settings: Any, remote: Any = None) -> Backend:
    """The backend called ``name``; ``remote`` is the engine's RemotePool (remote models only)."""
    if name == "llamacpp":
        from .llamacpp import LlamaCppBackend

        return LlamaCppBackend()
    if name == "remote":
        from .remote import RemoteBackend

        return RemoteBackend(remote)
    from .transformers import TransformersBackend

    return TransformersBackend()
