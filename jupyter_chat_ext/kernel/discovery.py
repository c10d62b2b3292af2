"""Find the running Jupyter server that hosts the chat extension.

Order of preference:

1. ``JUPYTER_CHAT_EXT_URL`` (+ ``JUPYTER_CHAT_EXT_TOKEN``): an explicit server, used as given;
2. the servers listed in jupyter_server's runtime files (``list_running_servers()``): those whose
   root dir contains the kernel's working directory first (deepest root first), then the others.

The first one whose ``GET <base>/chat-ext/health`` answers wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ENV_URL = "JUPYTER_CHAT_EXT_URL"
ENV_TOKEN = "JUPYTER_CHAT_EXT_TOKEN"
API_PREFIX = "chat-ext/"


@dataclass
class ServerInfo:
    """How to reach one Jupyter server: its base url (ending in '/'), token and root dir."""

    url: str
    token: str = ""
    root_dir: Path | None = None
    sock: str = ""
    pid: int | None = None

    def __post_init__(self) -> None:
        url = self.url.strip()
        if not url.endswith("/"):
            url += "/"
        if url.endswith("/" + API_PREFIX):  # accept ".../chat-ext/" as well as the server's base
            url = url[: -len(API_PREFIX)]
        self.url = url

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX

    def transport(self) -> httpx.HTTPTransport | None:
        return httpx.HTTPTransport(uds=self.sock) if self.sock else None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}


def server_from_env() -> ServerInfo | None:
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        return None
    root = os.environ.get("JUPYTER_CHAT_EXT_ROOT_DIR")
    return ServerInfo(url=url, token=os.environ.get(ENV_TOKEN, ""), root_dir=Path(root) if root else None)


def _contains(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def running_servers(cwd: Path | None = None) -> list[ServerInfo]:
    """Servers from the runtime files, the best candidates for ``cwd`` first."""
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:  # pragma: no cover - jupyter_server is a dependency
        return []
    cwd = (cwd or Path.cwd()).resolve()
    found: list[tuple[int, ServerInfo]] = []
    for raw in list_running_servers():
        root_raw = raw.get("root_dir") or raw.get("notebook_dir") or ""
        root = Path(root_raw).expanduser().resolve() if root_raw else None
        info = ServerInfo(
            url=raw.get("url", ""),
            token=raw.get("token", "") or "",
            root_dir=root,
            sock=raw.get("sock", "") or "",
            pid=raw.get("pid"),
        )
        # rank: containing roots first, the deepest (most specific) root before shallower ones
        depth = len(root.parts) if root is not None and _contains(root, cwd) else -1
        found.append((depth, info))
    found.sort(key=lambda item: item[0], reverse=True)
    return [info for _, info in found]


def check_health(info: ServerInfo, timeout: float = 2.0) -> dict[str, Any] | None:
    """The server's ``chat-ext/health`` answer, or None when it does not answer it."""
    try:
        with httpx.Client(transport=info.transport(), timeout=timeout) as http:
            resp = http.get(info.api_url + "health", headers=info.headers())
    except httpx.HTTPError:
        return None
    # 503 with a JSON body: the extension is there but its core did not start (reported as such)
    if resp.status_code not in (200, 503):
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) and "status" in body else None


def find_server(cwd: Path | None = None, timeout: float = 2.0) -> tuple[ServerInfo, dict[str, Any]] | None:
    """The server to use and its health answer, or None when no server hosts the extension."""
    explicit = server_from_env()
    candidates = [explicit] if explicit is not None else running_servers(cwd)
    for info in candidates:
        health = check_health(info, timeout=timeout)
        if health is not None:
            return info, health
    return None
