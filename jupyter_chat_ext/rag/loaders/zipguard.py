"""Refuse zip-based files (.docx, and any other zip container) that would inflate too far.

A 300 KB .docx that inflated to 300 MB cost +550 MB of memory before lxml gave up on it (issue 13).
The zip central directory declares every entry's uncompressed size, and CPython's zipfile never
returns more than the declared size of an entry (a lying entry ends in a CRC error instead of more
data), so summing the declared sizes before any parser opens the file bounds what parsing can
allocate. Checking the ratio as well catches a small file that is nearly all padding.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from .documents import LoadError

#: most bytes the entries of one zip-based document may declare uncompressed
MAX_UNZIPPED_BYTES = 64 * 1024 * 1024
#: most entries one document may hold (a zip of millions of empty entries is a bomb as well)
MAX_ENTRIES = 10_000
#: above this declared size, an uncompressed/compressed ratio over MAX_RATIO is refused
RATIO_FLOOR_BYTES = 8 * 1024 * 1024
MAX_RATIO = 200


def check_zip(path: Path, *, max_bytes: int = MAX_UNZIPPED_BYTES, max_entries: int = MAX_ENTRIES) -> None:
    """LoadError when ``path`` is not a zip, or its entries declare too much uncompressed data."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise LoadError(f"not a valid zip container: {exc}") from exc
    if len(infos) > max_entries:
        raise LoadError(f"refused as a decompression bomb: {len(infos)} zip entries (limit {max_entries})")
    declared = sum(max(0, i.file_size) for i in infos)
    compressed = sum(max(0, i.compress_size) for i in infos)
    mib = 1024 * 1024
    if declared > max_bytes:
        raise LoadError(
            f"refused as a decompression bomb: its zip entries declare {declared / mib:.0f} MiB "
            f"uncompressed (limit {max_bytes / mib:.0f} MiB)"
        )
    if declared > RATIO_FLOOR_BYTES and declared > MAX_RATIO * max(compressed, 1):
        raise LoadError(
            f"refused as a decompression bomb: {compressed} bytes inflate to {declared / mib:.0f} MiB "
            f"(more than {MAX_RATIO}:1)"
        )
