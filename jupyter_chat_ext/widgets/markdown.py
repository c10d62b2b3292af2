"""Markdown answers -> a small tree the ChatWidget builds with ``createElement`` (no HTML strings).

Rendered on the Python side with markdown-it-py (already installed with Jupyter, CommonMark
compliant, tables and strikethrough on) rather than a JS library: the widget needs no network
and no npm build at run time, and the output is a tree of whitelisted tags, never HTML text.
Raw HTML in an answer stays text (``html`` off), links keep only http(s)/mailto targets, images
show their alt text (a model's image URL would be a request to an unknown host).
"""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

Node = dict[str, Any]

_md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_TAGS = {
    "p", "em", "strong", "a", "ul", "ol", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "table", "thead", "tbody", "tr", "th", "td", "s",
}  # fmt: skip


def markdown_tree(text: str) -> list[Node]:
    """``[{"tag", "attrs"?, "children"} | {"text"}]`` for ``text`` (see ``dom.js`` renderTree)."""
    return _children(SyntaxTreeNode(_md.parse(text or "")))


def _children(node: SyntaxTreeNode) -> list[Node]:
    out: list[Node] = []
    for child in node.children:
        out.extend(_convert(child))
    return out


def _convert(node: SyntaxTreeNode) -> list[Node]:
    kind = node.type
    if kind == "text":
        return [{"text": node.content}]
    if kind == "softbreak":
        return [{"text": "\n"}]
    if kind == "hardbreak":
        return [{"tag": "br", "children": []}]
    if kind == "code_inline":
        return [{"tag": "code", "children": [{"text": node.content}]}]
    if kind in ("fence", "code_block"):
        lang = (node.info or "").split()[0] if kind == "fence" and node.info else ""
        code: Node = {"tag": "code", "children": [{"text": node.content}]}
        if lang:
            code["attrs"] = {"lang": lang}
        return [{"tag": "pre", "children": [code]}]
    if kind in ("inline", "image", "root"):  # inline runs and an image's alt text: just the children
        return _children(node)
    if kind == "paragraph" and node.hidden:  # the paragraphs of a tight list item
        return _children(node)
    tag = node.tag
    if tag not in _TAGS:
        return _children(node)
    out: Node = {"tag": tag, "children": _children(node)}
    if tag == "a":
        href = str(node.attrs.get("href", ""))
        if not href.lower().startswith(_SAFE_SCHEMES):
            return out["children"]  # an unsafe or relative target: keep the words, drop the link
        out["attrs"] = {"href": href}
    elif tag == "ol" and node.attrs.get("start") not in (None, 1):
        out["attrs"] = {"start": int(node.attrs["start"])}
    return [out]


class StreamingMarkdown:
    """The tree of a growing answer, re-parsing only its unfinished tail.

    Re-parsing the whole answer at every display update costs O(length) each time (measured in
    ``bench/bench_widget_markdown.py``: ~8 ms for 500 characters, ~50 ms for 2,000 on a busy
    2-core machine, with updates every 80 ms). Blocks that end in a blank line outside a code
    fence do not change as more text arrives, so their tree is kept and only the text after the
    last such line is parsed again. The final answer is rendered whole (``markdown_tree``).
    """

    def __init__(self) -> None:
        self._done_text = ""
        self._done_tree: list[Node] = []

    def tree(self, text: str) -> list[Node]:
        if not text.startswith(self._done_text):  # a new answer (or a reset): start over
            self._done_text, self._done_tree = "", []
        cut = stable_prefix_length(text)
        if cut > len(self._done_text):
            self._done_tree = self._done_tree + markdown_tree(text[len(self._done_text) : cut])
            self._done_text = text[:cut]
        return self._done_tree + markdown_tree(text[len(self._done_text) :])


def stable_prefix_length(text: str) -> int:
    """Length of the leading complete blocks: up to the last blank line outside a code fence."""
    fence: str | None = None
    cut = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith("\n"):
            break  # the last, unfinished line
        stripped = line.lstrip(" ")
        if len(line) - len(stripped) <= 3 and stripped.startswith(("```", "~~~")):
            marker = stripped[:3]
            if fence is None:
                fence = marker
            elif marker == fence:
                fence = None
        elif fence is None and not line.strip():
            cut = pos
    return cut
