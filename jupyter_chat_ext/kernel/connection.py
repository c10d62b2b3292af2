"""Pick the client for this kernel: the running server's extension, else the in-process core.

``JUPYTER_CHAT_EXT_MODE`` forces the choice: ``server`` (fail clearly when none answers),
``local`` (never look for a server), ``auto`` (default: server when one answers, else local).
One client per process is shared by the magics, the widgets and the report helpers.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from ..errors import InvalidInput, Unavailable
from ..settings import Settings
from .client import ChatClient
from .discovery import ENV_TOKEN, ENV_URL, find_server

ENV_MODE = "JUPYTER_CHAT_EXT_MODE"
MODES = ("auto", "server", "local")

HOW_TO_START = (
    "Start JupyterLab in this environment (`jupyter lab`; the chat extension is enabled with the "
    f"package) and run the notebook there, or point the kernel at a server with {ENV_URL} and "
    f"{ENV_TOKEN}, or run without a server with {ENV_MODE}=local."
)

_lock = threading.Lock()
_client: ChatClient | None = None


def requested_mode(mode: str | None = None) -> str:
    mode = (mode or os.environ.get(ENV_MODE) or "auto").strip().lower()
    if mode not in MODES:
        raise InvalidInput(f"{ENV_MODE} must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def connect(mode: str | None = None, cwd: Path | None = None, settings: Settings | None = None) -> ChatClient:
    """A new client for the requested mode (see the module doc)."""
    mode = requested_mode(mode)
    if mode in ("auto", "server"):
        found = find_server(cwd)
        if found is not None:
            from .http_client import HttpClient

            return HttpClient(found[0])
        if mode == "server":
            where = os.environ.get(ENV_URL) or "the running Jupyter servers"
            raise Unavailable(f"no Jupyter server with the chat extension answered ({where}). {HOW_TO_START}")
    from .local_service import LocalService

    return LocalService(settings)


def get_client(mode: str | None = None) -> ChatClient:
    """The process-wide shared client (created on first use)."""
    global _client
    with _lock:
        if _client is None:
            _client = connect(mode)
        return _client


def set_client(client: ChatClient | None) -> None:
    """Replace the shared client (closing the previous one); None forgets it."""
    global _client
    with _lock:
        old, _client = _client, client
    if old is not None and old is not client:
        old.close()


def reset_client() -> None:
    set_client(None)
