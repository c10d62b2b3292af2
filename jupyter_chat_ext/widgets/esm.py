"""The widgets' ES modules with the shared DOM helper inlined (one source: ``dom.js``).

anywidget hands ``_esm`` to the browser as one module (a string imported from a blob URL), so a
relative ``import ... from "./dom.js"`` has nothing to resolve against, and serving the helper
from a URL would tie the widgets to one Jupyter front end (Voila, VS Code and Colab render them
too). Each widget file therefore imports ``./dom.js`` like a normal module (lintable, testable on
its own) and this module swaps that import line for the helper's code when the class is defined.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

STATIC = Path(__file__).parent
HELPER = "dom.js"
_IMPORT = re.compile(r'^import\s*\{(?P<names>[^}]*)\}\s*from\s*"\./dom\.js";[ \t]*$', re.MULTILINE)
_EXPORT = re.compile(r"^export (?=(?:async )?function |const |let |class )", re.MULTILINE)


@functools.cache
def helper_source() -> str:
    """``dom.js`` without its ``export`` keywords, ready to sit inside another module."""
    return _EXPORT.sub("", (STATIC / HELPER).read_text(encoding="utf-8"))


def helper_names() -> set[str]:
    text = (STATIC / HELPER).read_text(encoding="utf-8")
    return set(re.findall(r"^export (?:async )?(?:function|const|let|class) (\w+)", text, re.MULTILINE))


@functools.cache
def build_esm(name: str) -> str:
    """The ES module ``name`` (a file next to this one) with its ``./dom.js`` import inlined."""
    source = (STATIC / name).read_text(encoding="utf-8")
    match = _IMPORT.search(source)
    if match is None:
        return source
    wanted = {n.strip() for n in match.group("names").split(",") if n.strip()}
    missing = wanted - helper_names()
    if missing:  # a typo here would only show as a blank widget in the browser
        raise ImportError(f"{name} imports {sorted(missing)} which {HELPER} does not export")
    start, end = match.span()
    inlined = f"// ---- inlined from {HELPER} ----\n{helper_source()}// ---- end of {HELPER} ----"
    return source[:start] + inlined + source[end:]
