"""OpenAPI links: from a field of a success answer to the operations that take it as a path parameter.

schemathesis' stateful phase follows them (create a collection, then search it, then delete it),
and a reader of the document sees what to call next.
"""

from __future__ import annotations

from typing import Any

__all__ = ["links"]


def links(parameter: str, pointer: str, **targets: str) -> dict[str, Any]:
    """``{link name: {operationId, parameters: {parameter: $response.body#pointer}}}``.

    ``links("name", "/name", GetCollection="getCollection")`` names the collection just created.
    """
    source = {parameter: f"$response.body#{pointer}"}
    return {name: {"operationId": target, "parameters": dict(source)} for name, target in targets.items()}
