"""Word-prefix search over chat history: a per-message Bloom signature plus exact verification.

Why not DuckDB's ``fts`` extension: ``INSTALL fts`` downloads (fails offline) and duckdb 2.x bundles
no fts; the PyPI extension wheels (``duckdb-ext-fts``, ``duckdb-extension-fts``) exist but load only
into the exact DuckDB they were built for (1.4.x/1.5.x, i.e. duckdb < 2), their BM25 index is not
updated on insert (a rebuild per write), and they match whole stemmed words, not the word prefixes
this search offers (``jupy`` finding "Jupyter"). A plain ``ILIKE`` scan over 1M messages takes
200-500 ms here. So the store keeps a small signature per message (table ``message_search``:
32 BIGINT columns = 2048 bits, maintained by :mod:`.signature_index`) and searches in two steps:

1. a scan of only the signature columns that the query's bits fall in (a few ms at 1M rows)
   yields candidate messages - a superset of the matches (Bloom filters give no false negatives);
2. the candidates' text is fetched by id and checked exactly with :class:`Matcher`.

Semantics (one tokeniser builds the signature and the exact check, so they cannot disagree):
text is case-folded and split into words of letters/digits (``_`` and punctuation separate words);
a query matches a text when **every** query word is a prefix of some word of the text:
``"jupy LAB"`` matches ``"Jupyter lab"`` and ``"the lab runs jupyter"``, not ``"JupyterLab"``
(``lab`` starts no word there).

Features per word ``w`` (each sets BITS_PER_FEATURE bits): ``"2"+w[:2]`` (len >= 2),
``"3"+w[:3]`` (len >= 3), ``"6"+w[:6]`` (len >= 6). A query word ``t`` that is a prefix of ``w``
shares every feature of its own length class, so its mask bits are all set in ``w``'s message.
Words of one character add no feature (they are still verified exactly); a query made only of
them falls back to an ``ILIKE`` scan before the exact check.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence

#: signature width: SIG_COLUMNS BIGINT columns of 64 bits
SIG_COLUMNS = 32
SIG_BITS = SIG_COLUMNS * 64
#: bits set per feature: 1 for the 2-letter prefixes (they are common and only serve 2-letter
#: query words), 3 for the 3- and 6-letter ones; about 9 % of the bits end up set for a typical
#: message, so a 3-letter query word lets ~0.07 % of non-matching messages through
BITS_PER_FEATURE = {"2": 1, "3": 3, "6": 3}
#: bump when tokenisation, features or hashing change: stored signatures are then rebuilt
SIGNATURE_VERSION = 2

_WORD = re.compile(r"[^\W_]+")
_MASK64 = (1 << 64) - 1


def sig_column_names() -> list[str]:
    return [f"s{i:02d}" for i in range(SIG_COLUMNS)]


def words(text: str) -> list[str]:
    """Case-folded words (runs of letters and digits) of ``text``."""
    return _WORD.findall(text.casefold())


def query_words(q: str) -> list[str]:
    """The distinct words of a query, in order; empty when the query has none."""
    seen: dict[str, None] = {}
    for w in words(q):
        seen.setdefault(w, None)
    return list(seen)


def _word_features(w: str) -> Iterable[str]:
    n = len(w)
    if n >= 2:
        yield "2" + w[:2]
    if n >= 3:
        yield "3" + w[:3]
    if n >= 6:
        yield "6" + w[:6]


def _query_features(t: str) -> list[str]:
    n = len(t)
    if n >= 6:
        return ["3" + t[:3], "6" + t[:6]]
    if n >= 3:
        return ["3" + t[:3]]
    if n == 2:
        return ["2" + t]
    return []


def _bits(feature: str) -> tuple[int, ...]:
    data = feature.encode("utf-8")
    h = zlib.crc32(data)
    first = (h & (SIG_BITS - 1), (h >> 11) & (SIG_BITS - 1), zlib.crc32(data, 0x5BD1E995) & (SIG_BITS - 1))
    return first[: BITS_PER_FEATURE[feature[0]]]


def _to_signed(v: int) -> int:
    return v - (1 << 64) if v >= (1 << 63) else v


def _split(bits: int) -> list[int]:
    """A SIG_BITS-wide int as SIG_COLUMNS signed 64-bit column values."""
    return [_to_signed((bits >> (64 * i)) & _MASK64) for i in range(SIG_COLUMNS)]


def _pack(bit_indexes: Iterable[int]) -> list[int]:
    bits = 0
    for b in bit_indexes:
        bits |= 1 << b
    return _split(bits)


#: word -> its feature bits as one int; chat text repeats words, so this saves most hashing
_word_bits: dict[str, int] = {}
_WORD_CACHE_MAX = 200_000


def _bits_of_word(w: str) -> int:
    bits = _word_bits.get(w)
    if bits is None:
        bits = 0
        for f in _word_features(w):
            for b in _bits(f):
                bits |= 1 << b
        if len(_word_bits) >= _WORD_CACHE_MAX:
            _word_bits.clear()
        _word_bits[w] = bits
    return bits


def signature(text: str) -> list[int]:
    """The message's signature as SIG_COLUMNS signed 64-bit ints (DuckDB BIGINT)."""
    bits = 0
    for w in set(words(text)):
        bits |= _bits_of_word(w)
    return _split(bits)


def query_mask(tokens: Sequence[str]) -> dict[int, int]:
    """{column index: signed mask} of the bits every matching message must have set."""
    bits = [b for t in tokens for f in _query_features(t) for b in _bits(f)]
    return {i: v for i, v in enumerate(_pack(bits)) if v}


def mask_condition(mask: dict[int, int]) -> str:
    """SQL condition over ``message_search`` for a mask (ints only: no injection possible)."""
    names = sig_column_names()
    return " AND ".join(f"({names[i]} & {int(v)}) = {int(v)}" for i, v in sorted(mask.items())) or "TRUE"


def _starts_a_word(folded: str, token: str) -> bool:
    """``token`` occurs in ``folded`` where no letter/digit precedes it (== regex ``(?<![^\\W_])``)."""
    i = folded.find(token)
    while i != -1:
        if i == 0 or not folded[i - 1].isalnum():
            return True
        i = folded.find(token, i + 1)
    return False


class Matcher:
    """Exact check: every query word starts some word of the text (case-insensitive)."""

    def __init__(self, tokens: Sequence[str]) -> None:
        self.tokens = list(tokens)
        # a token matches where it is not preceded by a letter/digit; tokens hold letters/digits only
        self._patterns = [re.compile(r"(?<![^\W_])" + re.escape(t)) for t in self.tokens]

    def __call__(self, text: str | None) -> bool:
        if not text or not self.tokens:
            return False
        folded = text.casefold()
        return all(_starts_a_word(folded, t) for t in self.tokens)

    def snippet(self, text: str, width: int = 160) -> str:
        """A one-line excerpt of ``text`` around the first match (``…`` where cut)."""
        flat = " ".join(text.split())
        folded = flat.casefold()
        pos = 0
        if len(folded) == len(flat):  # case folding kept positions (the usual case)
            found = self._patterns[0].search(folded) if self._patterns else None
            pos = found.start() if found else 0
        start = max(0, pos - width // 3)
        end = min(len(flat), start + width)
        start = max(0, end - width)
        out = flat[start:end]
        if start > 0:
            out = "…" + out.lstrip()
        if end < len(flat):
            out = out.rstrip() + "…"
        return out
