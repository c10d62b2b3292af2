"""Tools a model can call: the registry, built-in and notebook tools, MCP servers (see registry.py).

Importing this package is cheap: the ``mcp`` SDK and jsonschema load on first use.
"""

from .registry import ToolRegistry
from .spec import ToolResult, ToolSpec

__all__ = ["ToolRegistry", "ToolResult", "ToolSpec"]
