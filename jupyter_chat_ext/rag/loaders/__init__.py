"""Loaders: files and folders -> Documents (sections with locations) for the chunkers."""

from .documents import Document, LoadError, Section
from .registry import SUPPORTED_EXTS, file_type, is_supported, load_file
from .uploads import save_upload
from .walk import Discovery, discover, resolve_input

__all__ = [
    "SUPPORTED_EXTS",
    "Discovery",
    "Document",
    "LoadError",
    "Section",
    "discover",
    "file_type",
    "is_supported",
    "load_file",
    "resolve_input",
    "save_upload",
]
