"""The core checks what every door sends (kernel and widgets call it without HTTP) with the same
wire models the HTTP bodies use; only the limits of the running service are written by hand."""

from __future__ import annotations

import pytest

from jupyter_chat_ext.chat import inputs
from jupyter_chat_ext.engine.options import GenerationOptions
from jupyter_chat_ext.errors import InvalidInput, PayloadTooLarge, Unavailable
from jupyter_chat_ext.wire.chat import GenerationParams, RagSpec


def test_context_items_are_checked_with_their_path():
    with pytest.raises(InvalidInput, match=r"'context\[1\]\.label'"):
        inputs.context(
            [{"kind": "cell", "label": "In [1]", "text": "x"}, {"kind": "var", "label": 7, "text": ""}], 100
        )
    with pytest.raises(InvalidInput, match=r"'context\[0\]\.extra' is not a known field"):
        inputs.context([{"kind": "cell", "label": "a", "text": "b", "extra": 1}], 100)
    items = inputs.context([{"kind": "cell", "label": "  In [2] ", "text": "y = 2"}], 100)
    assert items == [{"kind": "cell", "label": "In [2]", "text": "y = 2"}]
    with pytest.raises(PayloadTooLarge):  # the message and its items share the configured limit
        inputs.context([{"kind": "var", "label": "df", "text": "z" * 60}], 100, used=50)


def test_rag_is_a_name_or_a_spec_and_needs_retrieval():
    assert inputs.rag("docs", True) == RagSpec(collection="docs")
    assert inputs.rag({"collection": "docs", "k": 2, "mode": "text"}, True).to_dict() == {
        "collection": "docs",
        "k": 2,
        "mode": "text",
    }
    with pytest.raises(InvalidInput, match=r"'rag\.mode'"):
        inputs.rag({"collection": "docs", "mode": "fuzzy"}, True)
    with pytest.raises(Unavailable):
        inputs.rag("docs", False)


def test_params_come_back_under_their_own_names():
    assert inputs.params({"max_new_tokens": 3, "stop": "x", "seed": None}) == {
        "max_tokens": 3,
        "stop": ["x"],
        "seed": None,
    }
    with pytest.raises(InvalidInput) as err:
        inputs.params({"top_k": "5"})
    assert err.value.code == "invalid_option" and err.value.message == "top_k must be an integer"
    # a model validated at a door passes through as it is
    opts = GenerationOptions.from_any(GenerationOptions(max_tokens=4, stop=["\n"]))
    assert opts.max_tokens == 4
    assert inputs.params(GenerationParams(temperature=0.5)) == {"temperature": 0.5}
