"""The notebook tools: declared here (name, schema, effect), run by the client that has the notebook.

The server cannot see the notebook a person has open in JupyterLab, so these tools only exist as
declarations: the agent loop offers them to the model when the client says it can run them
(``tools.client`` in the chat body), and the sidebar executes them (``notebookTools.ts``) and
posts the text result back. The registry refuses to run them itself.
"""

from __future__ import annotations

from .spec import ToolSpec

_INDEX = {"type": "integer", "minimum": 0, "description": "0-based index of the cell in the notebook"}
_SOURCE = {"type": "string", "description": "the full source text of the cell"}


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


NOTEBOOK_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="list_cells",
        description="List the cells of the active notebook: index, type and the first line of each.",
        parameters=_object({}, []),
        source="notebook",
        effect="read",
    ),
    ToolSpec(
        name="read_cell",
        description="Read one cell of the active notebook: its type, source and text outputs.",
        parameters=_object({"index": _INDEX}, ["index"]),
        source="notebook",
        effect="read",
    ),
    ToolSpec(
        name="insert_cell",
        description="Insert a new cell at the given index of the active notebook (later cells move down).",
        parameters=_object(
            {
                "index": _INDEX,
                "source": _SOURCE,
                "cell_type": {
                    "type": "string",
                    "enum": ["code", "markdown"],
                    "description": "the cell's type",
                },
            },
            ["index", "source", "cell_type"],
        ),
        source="notebook",
        effect="write",
    ),
    ToolSpec(
        name="edit_cell",
        description="Replace the source of the cell at the given index of the active notebook.",
        parameters=_object({"index": _INDEX, "source": _SOURCE}, ["index", "source"]),
        source="notebook",
        effect="write",
    ),
    ToolSpec(
        name="run_cell",
        description="Run the cell at the given index in the notebook's kernel and return its text output.",
        parameters=_object({"index": _INDEX}, ["index"]),
        source="notebook",
        effect="execute",
    ),
)
