"""Fast reader for a GGUF file's header: metadata scalars and tensor shapes.

``gguf.GGUFReader`` builds numpy views of every field (the 49k-entry vocabulary included) and takes
~4 s on the packaged model; listing models must not. This reader streams the header once, keeps the
scalar and string fields, skips arrays, and sums tensor sizes for the parameter count (~50 ms).
Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ModelError

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0
    tensor_count: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.metadata.get(key, default)

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    @property
    def context_length(self) -> int | None:
        arch = self.architecture
        value = self.metadata.get(f"{arch}.context_length") if arch else None
        return int(value) if value is not None else None


def _read(f: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise EOFError("truncated GGUF header")
    return struct.unpack(fmt, data)[0]


def _read_string(f: BinaryIO) -> str:
    n = _read(f, "<Q")
    data = f.read(n)
    if len(data) != n:
        raise EOFError("truncated GGUF string")
    return data.decode("utf-8", errors="replace")


def _skip_value(f: BinaryIO, vtype: int) -> None:
    if vtype == _STRING:
        f.seek(_read(f, "<Q"), 1)
    elif vtype == _ARRAY:
        etype, n = _read(f, "<I"), _read(f, "<Q")
        if etype in _SCALARS:
            f.seek(struct.calcsize(_SCALARS[etype]) * n, 1)
        else:
            for _ in range(n):
                _skip_value(f, etype)
    elif vtype in _SCALARS:
        f.seek(struct.calcsize(_SCALARS[vtype]), 1)
    else:
        raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf_header(path: str | Path) -> GGUFHeader:
    """Read metadata (arrays skipped, except their length) and the parameter count of a GGUF file."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelError(f"{path.name} is not a GGUF file (bad magic bytes)")
            header = GGUFHeader(version=_read(f, "<I"))
            tensor_count, kv_count = _read(f, "<Q"), _read(f, "<Q")
            header.tensor_count = tensor_count
            for _ in range(kv_count):
                key, vtype = _read_string(f), _read(f, "<I")
                if vtype == _STRING:
                    header.metadata[key] = _read_string(f)
                elif vtype in _SCALARS:
                    header.metadata[key] = _read(f, _SCALARS[vtype])
                elif vtype == _ARRAY:
                    pos = f.tell()
                    etype, n = _read(f, "<I"), _read(f, "<Q")
                    header.metadata[key] = {"array_type": etype, "length": n}
                    f.seek(pos)
                    _skip_value(f, vtype)
                else:
                    raise ValueError(f"unknown GGUF value type {vtype} for {key}")
            total = 0
            for _ in range(tensor_count):
                _read_string(f)
                n_dims = _read(f, "<I")
                count = 1
                for _ in range(n_dims):
                    count *= _read(f, "<Q")
                _read(f, "<I")  # ggml type
                _read(f, "<Q")  # offset
                total += count
            header.parameters = total
            return header
    except ModelError:
        raise
    except (OSError, EOFError, ValueError, struct.error, OverflowError, MemoryError) as exc:
        raise ModelError(f"cannot read GGUF file {path}: {exc}") from exc


def kv_bytes_per_cell(header: Any) -> int:
    """f16 K + V bytes of one KV cell (one token) over all layers, from a GGUF header or its dict
    (0 when unknown): what the llama.cpp backend sizes its pool by and what hub/fits.py estimates with."""
    arch = header.get("general.architecture")
    if not arch:
        return 0
    layers = header.get(f"{arch}.block_count")
    heads = header.get(f"{arch}.attention.head_count")
    kv_heads = header.get(f"{arch}.attention.head_count_kv") or heads
    width = header.get(f"{arch}.embedding_length")
    key_len = header.get(f"{arch}.attention.key_length")
    value_len = header.get(f"{arch}.attention.value_length")
    if not (isinstance(layers, int) and isinstance(kv_heads, int) and (key_len or (width and heads))):
        return 0
    head_k = int(key_len or width // heads)
    head_v = int(value_len or head_k)
    return int(layers) * int(kv_heads) * (head_k + head_v) * 2
