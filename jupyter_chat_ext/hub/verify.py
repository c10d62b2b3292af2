"""Check a downloaded file against the Hub's metadata: sha256 for LFS files, the git blob sha1 otherwise.

The Hub lists an LFS file's sha256 (``lfs.sha256``) and every file's git blob id (``blobId``: sha1 of
``b"blob <size>\\0" + content``). LFS files (the weights) are hashed while they arrive, on a
thread of their own (:class:`HashingFile`; hashlib releases the GIL), and the bytes a crashed attempt
left are hashed once when the resume opens the file: hashing a 98 MB GGUF after the download took
0.3-0.85 s here, as long as the download itself from a local mirror. Small non-LFS files are hashed
after the download.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

BLOCK = 4 * 1024 * 1024


def file_digests(
    path: Path, *, git_sha1: bool = False, should_stop: Callable[[], bool] | None = None
) -> dict[str, str]:
    """{"sha256": hex} (and "sha1": the git blob id when asked) of the file at ``path``."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % size) if git_sha1 else None
    with path.open("rb") as f:
        while block := f.read(BLOCK):
            sha256.update(block)
            if sha1 is not None:
                sha1.update(block)
            if should_stop is not None and should_stop():
                raise InterruptedError("stopped while hashing")
    out = {"sha256": sha256.hexdigest()}
    if sha1 is not None:
        out["sha1"] = sha1.hexdigest()
    return out


class HashingFile:
    """A file opened for appending whose running sha256 covers all of it, earlier bytes included.

    It offers what ``huggingface_hub.file_download.http_get`` uses of its ``temp_file``: ``write``,
    ``tell``, ``seek`` and ``truncate`` (called when a server ignores Range and the file restarts).
    """

    def __init__(self, path: Path, should_stop: Callable[[], bool] | None = None) -> None:
        self.path = path
        self._should_stop = should_stop
        self._file = path.open("ab")
        self._hash = self._prefix_hash(self._file.tell())
        #: chunks waiting for the hashing thread (bounded: a slow hash holds the download back)
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._hasher: threading.Thread | None = None

    def _hash_chunks(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._hash.update(chunk)

    def _drain(self) -> None:
        """Wait until every chunk written so far is in the hash."""
        if self._hasher is not None:
            self._chunks.put(None)
            self._hasher.join()
            self._hasher = None

    def _prefix_hash(self, size: int) -> Any:
        digest = hashlib.sha256()
        left = size
        with self.path.open("rb") as f:
            while left > 0 and (block := f.read(min(BLOCK, left))):
                digest.update(block)
                left -= len(block)
                if self._should_stop is not None and self._should_stop():
                    raise InterruptedError("stopped while hashing")
        return digest

    def write(self, data: bytes) -> int:
        written = self._file.write(data)
        if self._hasher is None:
            self._hasher = threading.Thread(target=self._hash_chunks, name="pull-sha256", daemon=True)
            self._hasher.start()
        self._chunks.put(bytes(data))
        return written

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        self._drain()
        self._file.flush()
        new_size = self._file.truncate(size)
        self._hash = self._prefix_hash(new_size)
        return new_size

    def flush(self) -> None:
        self._file.flush()

    def hexdigest(self) -> str:
        self._drain()
        return self._hash.hexdigest()

    def close(self) -> None:
        self._drain()
        self._file.close()

    def __enter__(self) -> HashingFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def matches(
    path: Path, *, sha256: str | None, blob_id: str | None, should_stop: Callable[[], bool] | None = None
) -> bool:
    """True when the file has the expected hash (sha256 preferred); True when the Hub gave none."""
    if sha256:
        return file_digests(path, should_stop=should_stop)["sha256"] == sha256.lower()
    if blob_id:
        return file_digests(path, git_sha1=True, should_stop=should_stop)["sha1"] == blob_id.lower()
    return True
