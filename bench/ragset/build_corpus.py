"""Rebuild the dev set's corpus from what ships with Python 3.11 and the ``packaging`` wheel.

    python bench/ragset/build_corpus.py     # writes bench/ragset/docs/, code/, licences/

The files are committed; this script only records where they came from (see README.md for the
licences). Run it with the interpreter whose files you want (the committed copy: CPython 3.11.7,
packaging 26.4); a different version changes some text, and the questions' answer substrings are
checked at bench time (bench/ragset/labels.py), so a label that no longer matches is reported.
"""

from __future__ import annotations

import importlib.util
import shutil
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: pydoc topics (the Language Reference / Library Reference text ``help()`` shows): prose
TOPICS = [
    "assert", "assignment", "async", "attribute-access", "augassign", "booleans", "break", "calls",
    "class", "comparisons", "context-managers", "continue", "del", "dict", "exceptions", "execmodel",
    "floating", "for", "formatstrings", "function", "global", "identifiers", "import", "integers",
    "lambda", "lists", "naming", "nonlocal", "numeric-types", "operator-summary", "pass", "raise",
    "return", "slicings", "specialattrs", "string-methods", "strings", "truth", "try", "typesmapping",
    "typesseq", "typesseq-mutable", "while", "with", "yield", "bltin-null-object", "typesmodules",
]  # fmt: skip
#: standard-library modules (PSF licence) and packaging's modules (Apache-2.0 OR BSD-2-Clause): code
STDLIB = ["textwrap", "shlex", "heapq", "bisect", "statistics", "fnmatch", "glob", "functools"]
PACKAGING = ["version", "specifiers"]


def main() -> None:
    from pydoc_data.topics import topics

    docs = HERE / "docs"
    code = HERE / "code"
    for folder in (docs, code):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    for name in TOPICS:
        (docs / f"{name}.txt").write_text(topics[name].strip() + "\n")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for name in STDLIB:
        shutil.copy(stdlib / f"{name}.py", code / f"{name}.py")
    spec = importlib.util.find_spec("packaging")
    assert spec is not None and spec.submodule_search_locations
    pkg = Path(next(iter(spec.submodule_search_locations)))
    for name in PACKAGING:
        shutil.copy(pkg / f"{name}.py", code / f"packaging_{name}.py")
    licences = HERE / "licences"
    licences.mkdir(exist_ok=True)
    shutil.copy(stdlib / "LICENSE.txt", licences / "PSF-LICENSE.txt")
    dist = next(pkg.parent.glob("packaging-*.dist-info"))
    for name in ("LICENSE", "LICENSE.APACHE", "LICENSE.BSD"):
        shutil.copy(dist / "licenses" / name, licences / f"packaging-{name}.txt")


if __name__ == "__main__":
    main()
