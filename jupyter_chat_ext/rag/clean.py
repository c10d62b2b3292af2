"""Strings that may be stored or sent as JSON: no lone surrogates.

Python hands out lone surrogates in two places an ingest meets: file names that are not valid UTF-8
(``os.fsdecode`` maps each bad byte to U+DC80..U+DCFF, "surrogateescape") and JSON text holding
``"\\ud800"`` escapes (a notebook can). Arrow refuses such strings - one bad name used to fail a whole
folder - and a JSON reader in a browser turns them into garbage, so nothing we store keeps them.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogates(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def clean_text(text: str) -> str:
    """Document text: each lone surrogate becomes U+FFFD (the replacement character)."""
    return _SURROGATE.sub("\ufffd", text) if has_surrogates(text) else text


def printable_path(path: object) -> str:
    """A path for people and JSON: undecodable bytes shown as ``\\xff`` escapes (backslashreplace)."""
    text = str(path)
    if not has_surrogates(text):
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")  # the bytes the file system really holds
    except UnicodeEncodeError:  # a surrogate that did not come from a file name
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "backslashreplace")
