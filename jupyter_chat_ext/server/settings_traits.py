"""The ``ChatExtApp`` traitlets, generated from the ``Settings`` dataclass: a setting is written once.

Each field of ``jupyter_chat_ext/settings.py`` becomes a config trait of the same name, with a
trait type from its annotation, its default (``None`` stands as ``""`` or ``0`` in Jupyter's
config, as it always did), and its help from the ``#:`` comment above the field. The help is read
from the comments, not from ``field(metadata=...)``: the comments are the ones a reader of
settings.py sees (and Sphinx's autodoc reads), the dataclass stays one line a field, and the
package always ships its sources (pure Python). vLLM's ``EngineArgs`` reads its config classes'
attribute docstrings the same way. A field with ``metadata={"config": False}`` (root_dir,
allow_hidden: the server fills them from Jupyter's own settings) gets no trait.

Reading one small file with ``ast`` at import costs about a millisecond; nothing heavy is imported.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, Float, Int, List, TraitType, Unicode, Union

from jupyter_chat_ext import settings as settings_module
from jupyter_chat_ext.settings import Settings

#: how None is written in Jupyter config for an optional text field (an int field's comment says
#: "None or 0" itself)
_NONE_HELP = {"str": "Empty means None.", "Path": "Empty means None."}


def field_help(source: str | None = None) -> dict[str, str]:
    """``{field: help}`` from the ``#:`` comment lines right above each field of ``Settings``."""
    text = source if source is not None else Path(settings_module.__file__).read_text(encoding="utf-8")
    lines = text.splitlines()
    out: dict[str, str] = {}
    for node in ast.parse(text).body:
        if not (isinstance(node, ast.ClassDef) and node.name == "Settings"):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                comment: list[str] = []
                row = item.lineno - 2  # the line above, 0-based
                while row >= 0 and lines[row].strip().startswith("#:"):
                    comment.insert(0, lines[row].strip()[2:].strip())
                    row -= 1
                out[item.target.id] = _sentence(" ".join(comment))
    return out


def settings_traits() -> dict[str, TraitType[Any, Any]]:
    """One config trait per configurable ``Settings`` field, by field name."""
    helps = field_help()
    traits: dict[str, TraitType[Any, Any]] = {}
    for f in dataclasses.fields(Settings):
        if not f.metadata.get("config", True):
            continue
        help_text = helps.get(f.name, "")
        trait = _trait(f, help_text)
        traits[f.name] = trait.tag(config=True)
    return traits


def _trait(f: dataclasses.Field[Any], help_text: str) -> TraitType[Any, Any]:
    kind = str(f.type).replace(" ", "")
    default = f.default
    optional = kind.endswith("|None")
    base = kind.removesuffix("|None")
    if optional:
        help_text = f"{help_text} {_NONE_HELP.get(base, '')}".strip()
    if default is dataclasses.MISSING:  # a factory: the trait starts empty, Settings fills it
        default = None
    if base == "bool":
        return Bool(default, help=help_text)
    if base == "int":
        return Int(default or 0, help=help_text)
    if base == "float":
        return Float(default, help=help_text)
    if base in ("str", "Path"):
        return Unicode(default or "", help=help_text)
    if base == "bool|str":  # a Python config's True/False, or its text from the command line
        return Union([Bool(), Unicode()], default_value="", help=help_text)
    if base == "int|str":
        return Union([Int(), Unicode()], default_value=default, help=help_text)
    if base in ("list[Path]", "list[str]"):
        return List(Unicode(), default_value=[], help=help_text)
    if base == "list[dict]":
        return List(default_value=[], help=help_text)
    if base.startswith("dict["):  # JSON text on the command line: the app's validator parses it
        return Union([Dict(), Unicode()], default_value={}, help=help_text)
    raise TypeError(f"Settings.{f.name}: no trait type for {f.type!r}; add one in settings_traits.py")


def _sentence(text: str) -> str:
    """A comment as help text: ending with a full stop (its first word may be a name: kept as is)."""
    text = text.strip()
    return text if not text or text.endswith(".") else f"{text}."
