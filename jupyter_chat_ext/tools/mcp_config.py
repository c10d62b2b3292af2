"""MCP server entries (the ``mcpServers`` shape other clients use) and MCP results as model text.

``{"name": {"command": "...", "args": [...], "env": {...}, "cwd": "..."}}`` starts a stdio server;
``{"name": {"url": "https://.../mcp", "headers": {...}}}`` connects over streamable HTTP. Optional
in both: ``start_timeout_s`` (how long the start + first listing may take). A bad entry is
reported as that server's error (``status()``), never raised at start-up.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
#: OpenAI function names: letters, digits, _ and -, at most 64
TOOL_NAME_BAD = re.compile(r"[^A-Za-z0-9_-]")
DEFAULT_START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ServerConfig:
    name: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S

    @property
    def kind(self) -> str:
        return "stdio" if self.command else "http"

    @classmethod
    def parse(cls, name: Any, raw: Any, *, start_timeout_s: float = DEFAULT_START_TIMEOUT_S) -> ServerConfig:
        """One checked entry; ValueError naming the problem."""
        if not isinstance(name, str) or not SERVER_NAME.match(name):
            raise ValueError(f"MCP server name {name!r}: use 1-48 letters, digits, '_' or '-'")
        if not isinstance(raw, dict):
            raise ValueError(f"MCP server {name!r}: the entry must be an object")
        known = {"command", "args", "env", "cwd", "url", "headers", "start_timeout_s", "type", "transport"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"MCP server {name!r}: unknown keys {unknown}")
        command, url = raw.get("command"), raw.get("url")
        if bool(command) == bool(url):
            raise ValueError(f"MCP server {name!r}: give either 'command' (stdio) or 'url' (streamable HTTP)")
        timeout = raw.get("start_timeout_s", start_timeout_s)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
            raise ValueError(
                f"MCP server {name!r}: 'start_timeout_s' must be a number of seconds in (0, 600]"
            )
        if url is not None:
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ValueError(f"MCP server {name!r}: 'url' must be an http(s) URL")
            return cls(
                name, url=url, headers=_str_map(name, "headers", raw.get("headers")), start_timeout_s=timeout
            )
        if not isinstance(command, str):
            raise ValueError(f"MCP server {name!r}: 'command' must be a string")
        args = raw.get("args") or []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"MCP server {name!r}: 'args' must be a list of strings")
        cwd = raw.get("cwd")
        if cwd is not None and not isinstance(cwd, str):
            raise ValueError(f"MCP server {name!r}: 'cwd' must be a string")
        env = _str_map(name, "env", raw.get("env"))
        return cls(name, command=command, args=list(args), env=env, cwd=cwd, start_timeout_s=timeout)


def _str_map(server: str, key: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"MCP server {server!r}: {key!r} must map strings to strings")
    return dict(value)


def exposed_name(server: str, tool: str) -> str:
    """``<server>__<tool>`` made a valid OpenAI function name (other characters become ``_``)."""
    return TOOL_NAME_BAD.sub("_", f"{server}__{tool}")[:64]


def result_text(result: Any) -> str:
    """A ``CallToolResult`` as the text the model reads: text blocks as they are, others described."""
    parts: list[str] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} result: {block.mime_type}, {len(block.data):,} base64 characters]")
        elif kind == "resource_link":
            parts.append(f"[resource link: {block.uri}]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(
                text if isinstance(text, str) else f"[resource: {resource.uri} ({resource.mime_type})]"
            )
        else:
            parts.append(f"[{kind or 'unknown'} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)


def describe_error(exc: BaseException) -> str:
    """The innermost useful message of an exception (task groups wrap the real one)."""
    while isinstance(getattr(exc, "exceptions", None), (list, tuple)) and exc.exceptions:  # type: ignore[attr-defined]
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
