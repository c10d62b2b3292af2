"""transformers backend: loader (GGUF conversion cache), batcher, kv_cache, sequence, runtime."""

from .runtime import TransformersBackend, TransformersRuntime

__all__ = ["TransformersBackend", "TransformersRuntime"]
