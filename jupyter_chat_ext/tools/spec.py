"""What a tool is (ToolSpec) and what calling one gives back (ToolResult): the registry's two types.

Every door speaks these: the agent loop turns specs into the OpenAI ``tools`` list, the sidebar
shows them from ``GET /chat-ext/tools``, and a result's ``content`` is exactly the text the model
sees (already truncated; ``truncated`` says so).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: where a tool runs: in the server process, in the client (the notebook in the browser), or in
#: an MCP server named after the colon
SOURCES = ("builtin", "notebook")
#: what a tool may do; "write" and "execute" need the user's approval unless allow-listed
EFFECTS = ("read", "write", "execute")
#: joins an MCP server's name and its tool's name into one unique tool name
MCP_SEP = "__"


@dataclass(frozen=True)
class ToolSpec:
    name: str  # unique; MCP tools are "<server>__<tool>"
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments
    source: str  # "builtin" | "notebook" | "mcp:<server>"
    effect: str  # "read" | "write" | "execute"
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.effect not in EFFECTS:
            raise ValueError(f"tool {self.name!r}: effect must be one of {EFFECTS}, not {self.effect!r}")
        if self.source not in SOURCES and not self.source.startswith("mcp:"):
            raise ValueError(f"tool {self.name!r}: unknown source {self.source!r}")

    def openai(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry: ``{"type": "function", "function": {name, description,
        parameters}}``."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def needs_approval(self) -> bool:
        return self.effect != "read"


@dataclass
class ToolResult:
    content: str  # what the model sees (truncated with a note past Settings.max_tool_result_chars)
    is_error: bool = False
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def error(cls, message: str) -> ToolResult:
        return cls(content=message, is_error=True)
