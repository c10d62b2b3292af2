"""Request bodies: received in pieces under a per-route limit, then one JSON check for every route.

Handlers stream their bodies (tornado's ``@stream_request_body``): the limit is checked against
``Content-Length`` before a byte is read and against the bytes received as they arrive, so an
oversized POST is refused with 413 without being buffered (measured before: a 200 MB POST was read
whole, +400 MB RSS, then refused). Upload routes spool to a temporary file instead of memory.

``parse_json`` is the single check a JSON body passes before anything reaches the core: valid
UTF-8, valid JSON, an object at the top, nested at most ``MAX_DEPTH`` deep (the C parser raised
RecursionError on JSON nested 50k deep: a 500), and no lone surrogate in any key or string
(``"\\ud800"`` reached DuckDB and gave 500 on 8 routes), and no ``NaN``/``Infinity``: Python's
parser accepts them, JSON (RFC 8259) and PostgreSQL's ``json`` do not; the 400 names the field path.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import IO, Any

from jupyter_chat_ext.errors import InvalidInput, PayloadTooLarge
from jupyter_chat_ext.gc_pause import gc_paused

#: deepest nesting accepted in a JSON body (the top-level object is depth 1)
MAX_DEPTH = 64
#: an oversized body up to this size is read and dropped before its 413 goes out, so clients that
#: send their whole body before reading (http.client, a browser's fetch) can read the answer
#: (measured: a 64 MB body refused at once was a connection reset for them); past it the 413 goes
#: out at once and the connection is closed (reading gigabytes to say "no" is a cost of its own)
DRAIN_LIMIT_BYTES = 256 * 1024 * 1024
#: a JSON body longer than this (characters) is decoded in pieces (``_Pieces``)
PIECEWISE_CHARS = 1_000_000
_WHITESPACE = re.compile(r"[ \t\n\r]*")
#: a \\u escape in the high/low surrogate range: only then can a parsed string hold a lone one
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class _NonFinite:
    """What ``NaN``/``Infinity``/``-Infinity`` parse to, so the walk can name their field."""

    def __init__(self, literal: str) -> None:
        self.literal = literal


def too_large(size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is {size} bytes or more; the limit is {limit}")


def declared_length(raw: str | None) -> int | None:
    """``Content-Length`` as an int; InvalidInput for a value that is not one."""
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit():
        raise InvalidInput(f"Content-Length {raw[:40]!r} is not a number of bytes")
    return int(raw)


class BodySink:
    """Collects a body in memory, or in a temporary file (``to_file``), refusing past ``limit``."""

    def __init__(self, limit: int, *, to_file: bool = False) -> None:
        self.limit = limit
        self.size = 0
        self._chunks: list[bytes] = []
        self._file: IO[bytes] | None = None
        if to_file:
            # open for the whole request; closed by path() or discard() (on_finish)
            self._file = tempfile.NamedTemporaryFile(prefix="chat-ext-upload-", delete=False)  # noqa: SIM115

    def accept(self, chunk: bytes) -> None:
        """Count a chunk against the limit (PayloadTooLarge past it) and keep it in memory."""
        self.size += len(chunk)
        if self.size > self.limit:
            self.discard()
            raise too_large(self.size, self.limit)
        if self._file is None:
            self._chunks.append(chunk)

    def write(self, chunk: bytes) -> None:
        """Append an accepted chunk to the file (blocking: the handler calls it on a worker thread)."""
        assert self._file is not None
        self._file.write(chunk)

    @property
    def spooled(self) -> bool:
        return self._file is not None

    def data(self) -> bytes:
        if self._file is not None:
            raise RuntimeError("this body went to a file; use path()")
        return b"".join(self._chunks)

    def path(self) -> Path:
        """The temporary file holding the body (closed for writing; the caller may move it)."""
        if self._file is None:
            raise RuntimeError("this body is in memory; use data()")
        if not self._file.closed:
            self._file.close()
        return Path(self._file.name)

    def discard(self) -> None:
        """Drop what was received (the file too, unless the handler moved it away)."""
        self._chunks = []
        if self._file is not None:
            if not self._file.closed:
                self._file.close()
            Path(self._file.name).unlink(missing_ok=True)


def parse_json(raw: bytes, *, required: bool = True, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The checked JSON object of a body (``{}`` for an empty optional body); InvalidInput if not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"the body is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        if required:
            raise InvalidInput("a JSON object body is required")
        return {}
    try:
        data = _loads(text)
    except RecursionError:
        raise InvalidInput(f"the JSON body is nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise InvalidInput(f"malformed JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("the JSON body must be an object")
    # the walk is O(size) in Python; skip it when the text cannot hold what it looks for
    deep = text.count("{") + text.count("[") > max_depth
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if deep or surrogates or "NaN" in text or "Infinity" in text:
        check_tree(data, max_depth=max_depth, surrogates=surrogates)
    return data


def _loads(text: str) -> Any:
    if len(text) < PIECEWISE_CHARS:
        return json.loads(text, parse_constant=_NonFinite)
    with gc_paused():  # millions of new objects: no full collection pass over them meanwhile
        return _Pieces(text).document()


class _Pieces:
    """A big body decoded a piece at a time: the top-level object key by key and each of its
    arrays element by element (``JSONDecoder.raw_decode``), so the GIL is let go between pieces.
    One ``json.loads`` of a 29 MB session import held it for ~270 ms, and every other thread (the
    event loop Jupyter answers ``/api/status`` on included) waited that long (bench/bench_import.py).
    The result is the same as ``json.loads``'s (the last of duplicate keys wins)."""

    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0
        self.decoder = json.JSONDecoder(parse_constant=_NonFinite)

    def peek(self) -> str:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
        return self.text[self.pos : self.pos + 1]

    def value(self) -> Any:
        self.peek()
        value, self.pos = self.decoder.raw_decode(self.text, self.pos)
        return value

    def step(self, allowed: str, what: str) -> str:
        char = self.peek()
        if not char or char not in allowed:
            raise ValueError(f"Expecting {what}: char {self.pos}")
        self.pos += 1
        return char

    def document(self) -> Any:
        if self.peek() != "{":
            return json.loads(self.text, parse_constant=_NonFinite)  # not an object: refused after
        self.pos += 1
        out: dict[str, Any] = {}
        if self.peek() == "}":
            self.pos += 1
        else:
            while True:
                key = self.value()
                if not isinstance(key, str):
                    raise ValueError(f"Expecting property name enclosed in double quotes: char {self.pos}")
                self.step(":", "':' delimiter")
                out[key] = self.array() if self.peek() == "[" else self.value()
                if self.step(",}", "',' delimiter") == "}":
                    break
        if self.peek():
            raise ValueError(f"Extra data: char {self.pos}")
        return out

    def array(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        if self.peek() == "]":
            self.pos += 1
            return items
        while True:
            items.append(self.value())
            if self.step(",]", "',' delimiter") == "]":
                return items


def check_tree(data: Any, *, max_depth: int = MAX_DEPTH, surrogates: bool = True) -> None:
    """Refuse nesting deeper than ``max_depth`` and lone surrogates, naming the field path."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, _NonFinite):
            raise InvalidInput(f"{path or 'the body'} is {value.literal}: JSON numbers are finite")
        if isinstance(value, str):
            if surrogates and _has_lone_surrogate(value):
                raise InvalidInput(f"{path or 'the body'} holds a lone surrogate (invalid Unicode)")
            continue
        if isinstance(value, dict):
            items: Any = value.items()
        elif isinstance(value, list):
            items = ((f"[{i}]", v) for i, v in enumerate(value))
        else:
            continue
        if depth > max_depth:
            raise InvalidInput(f"{path or 'the body'} is nested deeper than {max_depth} levels")
        for key, item in items:
            if isinstance(value, dict):
                if surrogates and _has_lone_surrogate(key):
                    raise InvalidInput(f"a key of {path or 'the body'} holds a lone surrogate")
                child = f"{path}.{key}" if path else key
            else:
                child = f"{path}{key}" if path else f"body{key}"
            stack.append((item, child, depth + 1))


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
