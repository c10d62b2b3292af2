"""Accept an uploaded file (name + bytes) into a folder, with a size limit and a safe name."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ...errors import InvalidInput, PayloadTooLarge
from .registry import is_supported

DEFAULT_MAX_UPLOAD_BYTES = 25 * 1024 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(filename: str) -> str:
    """Keep only the base name, with unusual characters replaced; refuse empty or dot names."""
    if not isinstance(filename, str) or not filename.strip():
        raise InvalidInput("an upload needs a file name")
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _SAFE.sub("_", base)
    if not base or base.startswith(".") or base in {".", ".."}:
        raise InvalidInput(f"unusable upload file name {filename!r}")
    return base[:200]


def save_upload(
    filename: str,
    data: bytes,
    dest_dir: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> Path:
    """Write an upload under ``dest_dir`` and return its path (PayloadTooLarge, InvalidInput)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidInput("upload content must be bytes")
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"upload of {len(data)} bytes exceeds the limit of {max_bytes} bytes")
    name = safe_filename(filename)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    tmp = dest / f".{name}.part"
    tmp.write_bytes(bytes(data))
    if not is_supported(tmp.with_name(name), sniff=False) and not is_supported(tmp, sniff=True):
        tmp.unlink(missing_ok=True)
        raise InvalidInput(f"unsupported file type for {name!r}")
    os.replace(tmp, target)
    return target


def save_upload_file(
    filename: str,
    source: Path,
    dest_dir: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> Path:
    """Like ``save_upload`` for content already in a file (a spooled request body): the size comes
    from ``stat`` and the bytes are copied in blocks, never read into memory whole."""
    try:
        size = source.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"the uploaded content cannot be read: {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise PayloadTooLarge(f"upload of {size} bytes exceeds the limit of {max_bytes} bytes")
    name = safe_filename(filename)
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    tmp = dest / f".{name}.part"
    shutil.copyfile(source, tmp)
    if not is_supported(tmp.with_name(name), sniff=False) and not is_supported(tmp, sniff=True):
        tmp.unlink(missing_ok=True)
        raise InvalidInput(f"unsupported file type for {name!r}")
    os.replace(tmp, target)
    return target
