"""jupyter-chat-ext: local-first AI chat inside Jupyter.

Importing this package stays cheap (no torch, no transformers, no tornado): Jupyter imports it at
start-up to find the extension points below.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """``__version__`` from the installed metadata (its one source is labextension/package.json).

    Looked up on first use, not at import: Jupyter imports this package at every start-up.
    """
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("jupyter_chat_ext")
        except PackageNotFoundError:  # a source tree on sys.path, not installed
            return "0+unknown"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import ChatExtApp

    return [{"module": "jupyter_chat_ext.server.app", "app": ChatExtApp}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-chat-ext"}]


def load_ipython_extension(ipython: Any) -> None:
    from .kernel.magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .kernel.magics import unload_ipython_extension as _unload

    _unload(ipython)
