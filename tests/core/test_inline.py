"""Inline completion text logic (chat/inline.py) and attached chat context (chat/context.py).

The text functions run on plain strings with a real tokenizer count (the packaged model's, via the
shared engine) where the budget matters; the context test runs real turns on the real model.
"""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_chat_ext.chat.context import fold
from jupyter_chat_ext.chat.inline import canonical_language, fit_budget, parse_inline, trim_prefix
from jupyter_chat_ext.chat.inline_clean import InlineCleaner
from jupyter_chat_ext.errors import InvalidInput, PayloadTooLarge

CODE = "".join(f"def f{i}(x):\n    return x + {i}\n\n" for i in range(1400))  # ~40k characters


def stream(raw: str, suffix: str = "", max_lines: int = 1, step: int = 2) -> tuple[str, str, str | None]:
    """Feed ``raw`` in small pieces as the engine would; (streamed text, final text, reason)."""
    cleaner = InlineCleaner(suffix, max_lines)
    out = ""
    for i in range(0, len(raw), step):
        out += cleaner.feed(raw[i : i + step])
        if cleaner.done:
            break
    return out, cleaner.finish(), cleaner.reason


def test_the_cleaner_strips_fences_stops_at_max_lines_and_a_repeated_suffix():
    assert stream("```python\ndef f():\n    return 1\n```\nprint(2)", max_lines=5)[1:] == (
        "def f():\n    return 1",
        "fence",
    )
    # a completion that starts on the next line keeps its newline; one line means one line
    assert stream("\n    return x\n    y = 2\n") == ("\n    return x", "\n    return x", "max_lines")
    assert stream("a = 1\nb = 2\nc = 3\n", max_lines=2)[1] == "a = 1\nb = 2"
    # the model writes the suffix's next line again: cut there
    assert stream("total += x\nreturn total\n", suffix="\nreturn total\n", max_lines=5)[1] == "total += x"
    # the rest of the cursor's line repeated at the end ("print(|)" -> "x)")
    assert stream("x)", suffix=")\nmore")[1] == "x"
    # never emitted text that a later token takes back: the streamed text is a prefix of the final
    for raw in ("``", "```py\nx = 1\n``", "ret", "hello world\n\n\n"):
        streamed, final, _ = stream(raw, suffix="return total", max_lines=3, step=1)
        assert final.startswith(streamed) or streamed.rstrip() == final
    assert stream("   \n\n")[1] == ""


def test_languages_and_bodies():
    assert canonical_language("text/x-ipython", None) == "python"
    assert canonical_language("", "src/app.TS") == "typescript"
    assert canonical_language("", None) == "text"
    ok = parse_inline({"prefix": "x = ", "language": "ipython3", "max_lines": 3})
    assert (ok.language, ok.max_lines, ok.skip_reason) == ("python", 3, None)
    assert parse_inline({"prefix": "x", "language": "brainfudge"}).skip_reason
    assert parse_inline({"prefix": "\x00\x01", "language": "python"}).skip_reason
    assert parse_inline({"prefix": "", "suffix": "  "}).skip_reason
    for bad in ({"prefix": 1}, {"max_lines": 0}, {"max_lines": True}, {"model": ""}, {"path": 3}):
        with pytest.raises(InvalidInput):
            parse_inline(bad)
    with pytest.raises(PayloadTooLarge):
        parse_inline({"prefix": "x" * 600_000})


def test_a_40k_prefix_is_trimmed_from_its_far_end_on_a_line_start(engine):
    model = engine.resolve(None)
    calls: list[int] = []

    def count(text: str) -> int:
        calls.append(len(text))
        return engine.count_tokens(model, text)

    kept, tokens = trim_prefix(CODE, 512, count)
    assert 400 < tokens <= 512 and tokens == count(kept)  # most of the budget, never over it
    assert CODE.endswith(kept) and kept.startswith(("def ", "    ", "\n"))
    assert max(calls) <= 512 * 8  # the tokenizer never saw the whole 40k characters
    # typing at the end keeps the start (the engine's cached prompt prefix stays valid)
    same = sum(trim_prefix(CODE + "x" * n, 512, count)[0][:200] == kept[:200] for n in range(1, 11))
    assert same >= 8
    fitted = fit_budget(CODE, CODE, 512, count, use_suffix=True)
    assert fitted.suffix_tokens <= 128 and fitted.prefix_tokens + fitted.suffix_tokens <= 512
    assert CODE.startswith(fitted.suffix) and fitted.dropped_prefix_chars > 39_000
    assert trim_prefix("", 100, count) == ("", 0) and trim_prefix("abc", 0, count) == ("", 0)
    assert trim_prefix("x" * 40_000, 64, count)[1] <= 64  # one huge line: cut inside it


def test_context_blocks_are_fenced_safely():
    items = [
        {"kind": "file", "label": "notes.md", "text": "has ``` inside\n````\nand more"},
        {"kind": "var", "label": "df", "text": "DataFrame (3, 2)"},
    ]
    text = fold("What is this?", items)
    assert text.startswith("File: notes.md\n`````\n") and text.endswith("\n\nWhat is this?")
    assert "Variable: df\n```\nDataFrame (3, 2)\n```" in text
    assert fold("q", None) == "q"


async def collect(gen: Any) -> list[dict[str, Any]]:
    return [event async for event in gen]


async def test_chat_context_reaches_the_model_and_is_stored(chat_service):
    s = chat_service.create_session()
    items = [{"kind": "cell", "label": "In [3]", "text": "x = 41 + 1\nprint(x)"}]
    events = await collect(
        chat_service.chat(s["id"], "What does it print?", {"max_tokens": 4}, context=items)
    )
    done = events[-1]
    assert done["type"] == "done"
    user = chat_service.list_messages(s["id"])[0]
    assert user["content"] == "What does it print?"  # stored as typed; the context beside it
    assert user["metadata"]["context"] == [
        {"kind": "cell", "label": "In [3]", "text": "x = 41 + 1\nprint(x)"}
    ]
    plain = await collect(chat_service.chat(s["id"], "What does it print?", {"max_tokens": 4}))
    # the first turn's prompt held the cell; the second's holds it too (history keeps its context)
    assert plain[-1]["metrics"]["prompt_tokens"] > done["metrics"]["prompt_tokens"]
    regen = await collect(chat_service.regenerate(s["id"], {"max_tokens": 4}))
    assert regen[-1]["metrics"]["prompt_tokens"] == plain[-1]["metrics"]["prompt_tokens"]

    for bad in (
        [{"kind": "url", "label": "x", "text": "y"}],
        [{"kind": "file", "label": "", "text": "y"}],
        [{"kind": "file", "label": "a\nb", "text": "y"}],
        [{"kind": "file", "label": "x", "text": 5}],
        [{"kind": "cell", "label": "x", "text": "y", "extra": "refused"}],  # unknown fields: 400 (wire)
        {"kind": "file"},
    ):
        with pytest.raises(InvalidInput):
            await collect(chat_service.chat(s["id"], "q", {"max_tokens": 2}, context=bad))
    for huge in (
        [{"kind": "file", "label": "big", "text": "x" * 250_000}],
        [{"kind": "file", "label": "x", "text": "y"}] * 21,  # more items than the limit: 413 (wire)
    ):
        with pytest.raises(PayloadTooLarge):
            await collect(chat_service.chat(s["id"], "q", {"max_tokens": 2}, context=huge))
    assert len(chat_service.list_messages(s["id"])) == 5  # nothing written by the refusals
