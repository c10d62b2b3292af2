"""What in the configuration was skipped, and why: one list for health, /models and the log.

Bad configuration never takes the core down: a malformed remote endpoint is skipped by its pool
(``RemotePool.rejected``), an MCP server that cannot start is a state of its own, a model folder
that does not exist scans as empty. Each used to be silent or fatal (one endpoint with
``timeout_s: -1`` made every route answer 503; ``model_dirs='["/models"]'`` listed nothing and said
nothing); this module says so, in one shape: ``{"setting", "item", "error"}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def config_problems(settings: Any, engine: Any = None, tools: Any = None) -> list[dict[str, str]]:
    """The configured things that are not in use, each ``{setting, item, error}`` (cheap: no I/O
    beyond a stat per model folder; MCP servers are not started)."""
    problems: list[dict[str, str]] = []
    pool = getattr(engine, "_remote", None) if engine is not None else None
    for rejected in getattr(pool, "rejected", None) or []:
        problems.append(
            {"setting": "remote_endpoints", "item": rejected["endpoint"], "error": rejected["error"]}
        )
    for folder in getattr(settings, "model_dirs", None) or []:
        path = Path(folder)
        if not path.is_dir():
            why = "is not a folder" if path.exists() else "does not exist"
            problems.append({"setting": "model_dirs", "item": str(path), "error": f"the folder {why}"})
    if tools is not None:
        for server in tools.status():
            if server.get("state") == "failed" and server.get("error"):
                problems.append(
                    {"setting": "mcp_servers", "item": str(server.get("name")), "error": str(server["error"])}
                )
    return problems
