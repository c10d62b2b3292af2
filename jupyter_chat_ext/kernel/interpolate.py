"""Fill ``{name}`` / ``{df.shape}`` / ``{items[0]!r:>10}`` in a prompt from the notebook's variables.

Like jupyter-ai's prompt variables, but forgiving: a field that does not resolve (unknown name,
missing attribute, code such as ``{"a": 1}``) stays in the text exactly as written, and text that
is not a valid format string at all (an unbalanced brace) is returned unchanged.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

_formatter = string.Formatter()


def _field_text(field: str, conversion: str | None, spec: str | None) -> str:
    out = "{" + field
    if conversion:
        out += "!" + conversion
    if spec:
        out += ":" + spec
    return out + "}"


def interpolate(text: str, namespace: Mapping[str, Any]) -> str:
    """``text`` with every resolvable replacement field filled from ``namespace``."""
    try:
        parts = list(_formatter.parse(text))
    except ValueError:
        return text
    out: list[str] = []
    for literal, field, spec, conversion in parts:
        # parse() unescapes "{{" to "{" in literals, which is what str.format would print too
        out.append(literal)
        if field is None:
            continue
        if not field or not (field[0].isalpha() or field[0] == "_"):
            out.append(_field_text(field, conversion, spec))
            continue
        try:
            value, _ = _formatter.get_field(field, (), namespace)
            value = _formatter.convert_field(value, conversion)
            # a spec may itself hold fields ("{x:{width}}"); resolve them the same forgiving way
            out.append(_formatter.format_field(value, interpolate(spec or "", namespace)))
        except Exception:
            out.append(_field_text(field, conversion, spec))
    return "".join(out)
