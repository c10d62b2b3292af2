"""jupyter-chat-ext: local-first AI chat inside Jupyter.

Importing this package stays cheap (no torch, no transformers, no tornado): Jupyter imports it at
start-up to find the extension points below.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


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
