"""The widgets' front-end assets: one DOM helper inlined from one source, markdown as a safe tree."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from jupyter_chat_ext.widgets import ChatWidget, ModelPanel, RagPanel
from jupyter_chat_ext.widgets.esm import HELPER, STATIC, build_esm, helper_names
from jupyter_chat_ext.widgets.markdown import markdown_tree

WIDGET_JS = ["chat.js", "models.js", "rag.js"]


@pytest.mark.parametrize("name", WIDGET_JS)
def test_each_widget_imports_the_helper_instead_of_copying_it(name: str) -> None:
    source = (STATIC / name).read_text()
    assert re.search(r'^import \{[^}]+\} from "\./dom\.js";$', source, re.MULTILINE)
    for helper in helper_names():
        assert not re.search(rf"^(?:export )?function {helper}\(", source, re.MULTILINE), helper
    built = build_esm(name)
    assert not re.search(r"^import .*dom\.js", built, re.MULTILINE)
    assert built.count("function h(") == 1
    assert "export default { render };" in built


def test_the_classes_ship_the_built_modules() -> None:
    for cls, name in ((ChatWidget, "chat.js"), (ModelPanel, "models.js"), (RagPanel, "rag.js")):
        assert cls._esm == build_esm(name)
    assert "function renderTree(" in ChatWidget._esm


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to parse the modules")
@pytest.mark.parametrize("name", WIDGET_JS)
def test_built_modules_are_valid_javascript(name: str, tmp_path: Path) -> None:
    module = tmp_path / f"{name}.mjs"
    module.write_text(build_esm(name))
    result = subprocess.run(["node", "--check", str(module)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_helper_never_injects_html() -> None:
    source = (STATIC / HELPER).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("):
        assert sink not in source


def tags(nodes: list[dict]) -> set[str]:
    found: set[str] = set()
    for node in nodes:
        if "tag" in node:
            found.add(node["tag"])
            found |= tags(node.get("children", []))
    return found


def texts(nodes: list[dict]) -> str:
    return "".join(n["text"] if "text" in n else texts(n.get("children", [])) for n in nodes)


def test_markdown_renders_the_usual_structure() -> None:
    tree = markdown_tree(
        "# Plan\n\nUse **bold**, *em* and `x = 1`.\n\n- one\n- two\n\n```python\nprint(1)\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](https://jupyter.org)"
    )
    assert {"h1", "p", "strong", "em", "code", "ul", "li", "pre", "table", "th", "td", "a"} <= tags(tree)
    pre = next(n for n in tree if n.get("tag") == "pre")
    assert pre["children"][0] == {
        "tag": "code",
        "children": [{"text": "print(1)\n"}],
        "attrs": {"lang": "python"},
    }
    link = next(n for n in tree[-1]["children"] if n.get("tag") == "a")
    assert link == {"tag": "a", "children": [{"text": "docs"}], "attrs": {"href": "https://jupyter.org"}}


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[data](data:text/html;base64,PHNjcmlwdD4=)",
        '<a href="javascript:alert(1)">x</a>',
        "![pixel](http://tracker.example/p.png)",
    ],
)
def test_markdown_never_carries_html_or_unsafe_links(hostile: str) -> None:
    tree = markdown_tree(f"before {hostile} after")
    assert tags(tree) <= {"p", "a"}
    hrefs = [n["attrs"]["href"] for n in _walk(tree) if n.get("tag") == "a"]
    assert all(h.startswith(("http://", "https://", "mailto:")) for h in hrefs)
    assert not any(n.get("tag") == "img" for n in _walk(tree))
    assert "before" in texts(tree) and "after" in texts(tree)


def _walk(nodes: list[dict]):
    for n in nodes:
        yield n
        yield from _walk(n.get("children", []))


def test_streaming_markdown_reparses_only_the_tail_and_ends_like_the_whole() -> None:
    from jupyter_chat_ext.widgets.markdown import StreamingMarkdown, stable_prefix_length

    text = "# Steps\n\nFirst **this**.\n\n```python\nx = 1\n\ny = 2\n```\n\nThen *that*.\n\n- a\n- b\n"
    # a blank line inside a fence does not end a block
    assert stable_prefix_length("```\nx\n\ny") == 0
    assert stable_prefix_length("para\n\n```\nx\n\ny") == len("para\n\n")
    streaming = StreamingMarkdown()
    for end in range(1, len(text) + 1):
        tree = streaming.tree(text[:end])
        assert tree  # never blank once text has arrived
    assert tree == markdown_tree(text)
    # a different answer starts over
    assert streaming.tree("New answer") == markdown_tree("New answer")
