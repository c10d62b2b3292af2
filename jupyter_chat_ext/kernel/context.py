"""Notebook context for ``%%chat --cell N``, ``--var NAME`` and ``%chat fix``, read in the kernel.

Each function returns one context item ``{"kind", "label", "text"}`` (the chat body's
``context``, see ``chat/context.py``): the server stores it with the message and folds it into
the prompt, so a kernel's attachments look like the sidebar's chips.

Variables are described without running user code: ``__repr__``, ``__len__`` or ``__dir__`` of an
arbitrary object may do anything (open files, query a database, change state), so only types we
know are summarised (pandas, numpy, builtins, callables); any other object is named by its type.
"""

from __future__ import annotations

import inspect
import keyword
import re
import reprlib
import sys
import traceback
from typing import Any

from IPython.core.error import UsageError

#: characters of one attached item (a cell, a variable summary, a traceback)
MAX_ITEM_CHARS = 6000
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\].*?(?:\x07|\x1b\\)")
_SAFE_REPR = reprlib.Repr()
_SAFE_REPR.maxstring, _SAFE_REPR.maxother, _SAFE_REPR.maxlist = 400, 200, 20


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _cut(text: str, limit: int = MAX_ITEM_CHARS, *, keep_end: bool = False) -> str:
    if len(text) <= limit:
        return text
    note = f"\n... ({len(text) - limit} characters left out)\n"
    return note.lstrip("\n") + text[-limit:] if keep_end else text[:limit] + note


# -- cells ------------------------------------------------------------------------------------------


def cell_item(shell: Any, number: int) -> dict[str, str]:
    """``In[number]`` of this kernel, with its ``Out[number]`` when it had a result."""
    inputs = shell.user_ns.get("In") or []
    if not 1 <= number < len(inputs):
        have = f"1..{len(inputs) - 1}" if len(inputs) > 1 else "none yet"
        raise UsageError(f"--cell {number}: no such cell in this kernel's history (cells: {have})")
    text = inputs[number]
    outputs = shell.user_ns.get("Out") or {}
    if number in outputs:
        text += "\n\n# Out:\n" + describe_value(outputs[number])
    return {"kind": "cell", "label": f"In [{number}]", "text": _cut(text)}


# -- variables --------------------------------------------------------------------------------------


def var_item(shell: Any, name: str) -> dict[str, str]:
    """A summary of the live variable ``name`` (type, shape, dtypes, a short head)."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"--var needs a variable name, not {name!r}")
    if name not in shell.user_ns:
        raise UsageError(f"--var {name}: no variable {name!r} in this kernel")
    return {"kind": "var", "label": name, "text": _cut(describe_value(shell.user_ns[name]))}


def _module_of(obj: Any) -> str:
    return getattr(type(obj), "__module__", "") or ""


def describe_value(obj: Any) -> str:
    """Type and a bounded summary of ``obj``, calling only code of libraries we know."""
    kind = type(obj)
    name = f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__
    module = _module_of(obj)
    if module.split(".")[0] == "pandas" and hasattr(obj, "dtypes"):
        return _describe_pandas(obj, name)
    if module.split(".")[0] == "numpy" and hasattr(obj, "shape"):
        np = sys.modules["numpy"]
        body = np.array2string(obj, threshold=60, edgeitems=3, max_line_width=100)
        return f"{name} shape={obj.shape} dtype={obj.dtype}\n{body}"
    if kind in (str, bytes, int, float, complex, bool, type(None), list, tuple, dict, set, frozenset):
        # exact types only: a subclass may bring its own __repr__
        size = f" len={len(obj)}" if hasattr(obj, "__len__") else ""
        return f"{name}{size}\n{_builtin_repr(obj)}"
    if inspect.isfunction(obj) or inspect.ismethod(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj):
        try:
            signature = str(inspect.signature(obj))
        except (TypeError, ValueError):
            signature = "(...)"
        doc = (inspect.getdoc(obj) or "").split("\n\n")[0]
        return f"{name} {getattr(obj, '__qualname__', '')}{signature}\n{doc}".rstrip()
    if inspect.ismodule(obj):
        return f"module {obj.__name__}"
    # anything else: its type only (its own __repr__ is user code that we do not run)
    return f"{name} object (not shown: its repr would run its own code)"


def _builtin_repr(obj: Any) -> str:
    # containers of builtins only: a user object inside a list gets reprlib's object repr
    # (reprlib.Repr.repr_instance calls repr(); guard by type before descending)
    if isinstance(obj, (list, tuple, set, frozenset)) and not all(_plain(x) for x in list(obj)[:50]):
        return f"<{len(obj)} items of types {sorted({type(x).__name__ for x in list(obj)[:50]})}>"
    if isinstance(obj, dict) and not all(_plain(k) and _plain(v) for k, v in list(obj.items())[:50]):
        return f"<{len(obj)} entries; keys {_SAFE_REPR.repr([k for k in obj if _plain(k)][:20])}>"
    return _SAFE_REPR.repr(obj)


def _plain(value: Any) -> bool:
    return type(value) in (str, bytes, int, float, complex, bool, type(None))


def _describe_pandas(obj: Any, name: str) -> str:
    lines = [f"{name} shape={getattr(obj, 'shape', '?')}"]
    dtypes = obj.dtypes
    if hasattr(dtypes, "items"):  # a DataFrame: one dtype per column
        lines.append("dtypes:\n" + "\n".join(f"  {col}: {dt}" for col, dt in list(dtypes.items())[:50]))
    else:
        lines.append(f"dtype: {dtypes}")
    head = obj.head(5)
    to_string = head.to_string
    try:
        lines.append("head():\n" + to_string(max_cols=20, max_colwidth=40))
    except TypeError:  # a Series' to_string has no max_cols
        lines.append("head():\n" + to_string())
    return "\n".join(lines)


def notebook_context(shell: Any, args: Any) -> list[dict[str, str]]:
    """The items ``--cell N`` and ``--var NAME`` (each repeatable) ask for, in that order."""
    if shell is None:
        return []
    items = [cell_item(shell, n) for n in getattr(args, "cell", None) or []]
    items += [var_item(shell, name) for name in getattr(args, "var", None) or []]
    return items


# -- the last error ---------------------------------------------------------------------------------


def last_error(shell: Any) -> tuple[dict[str, str], dict[str, str] | None]:
    """(the error item, the failing cell's item or None) from ``sys.last_*`` of this kernel."""
    value = getattr(sys, "last_value", None)
    tb = getattr(sys, "last_traceback", None)
    if value is None:
        raise UsageError("%chat fix: no error yet in this kernel (run the failing cell first)")
    lines = traceback.format_exception(type(value), value, tb)
    text = strip_ansi("".join(lines)).rstrip()
    error = {
        "kind": "error",
        "label": f"{type(value).__name__}: {strip_ansi(str(value))}".splitlines()[0][:200] or "error",
        "text": _cut(text, keep_end=True),  # the end of a traceback says the most
    }
    number = _failing_cell(shell, tb)
    cell = None
    if number is not None:
        inputs = shell.user_ns.get("In") or []
        if 0 < number < len(inputs):
            cell = {"kind": "cell", "label": f"In [{number}]", "text": _cut(inputs[number])}
    return error, cell


def _failing_cell(shell: Any, tb: Any) -> int | None:
    """The execution count of the innermost notebook cell in the traceback."""
    names = getattr(getattr(shell, "compile", None), "_filename_map", {}) or {}
    number = None
    for frame in traceback.extract_tb(tb) if tb is not None else []:
        if frame.filename in names:
            number = int(names[frame.filename])
    return number


FIX_PROMPT = (
    "The notebook cell above raised the error shown. Explain the cause in one or two sentences, "
    "then give the corrected cell as one complete ```python code block."
)
