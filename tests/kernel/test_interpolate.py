"""Prompt variables: {name} fields filled from the notebook namespace, the rest left alone."""

from __future__ import annotations

import pandas as pd

from jupyter_chat_ext.kernel.interpolate import interpolate


def test_fills_names_attributes_items_and_specs() -> None:
    df = pd.DataFrame({"a": range(3), "b": range(3)})
    ns = {"df": df, "items": ["x", "y"], "pi": 3.14159, "name": "Ada"}
    text = "shape {df.shape}, first {items[0]}, pi {pi:.2f}, {name!r}"
    assert interpolate(text, ns) == "shape (3, 2), first x, pi 3.14, 'Ada'"


def test_unknown_fields_and_code_stay_as_written() -> None:
    ns = {"known": 1}
    text = 'use {unknown} and {known.missing} in {"a": 1} and f({}) and {known}'
    assert interpolate(text, ns) == 'use {unknown} and {known.missing} in {"a": 1} and f({}) and 1'


def test_unbalanced_braces_return_the_text_unchanged() -> None:
    text = "def f():\n    return {x: 1 for x in range(3)"
    assert interpolate(text, {"x": 5}) == text
    assert interpolate("a } b", {}) == "a } b"


def test_nested_spec_fields_resolve_forgivingly() -> None:
    assert interpolate("[{v:>{w}}]", {"v": "ab", "w": 4}) == "[  ab]"
