"""The providers' config file: ``<jupyter config dir>/chat_ext/providers.json``.

A config file, not the chat store: it is configuration a person edits (like
``jupyter_server_config.py``), it must survive a wiped data dir, and an export of the chats must
never carry it. It holds no key, only how to find one (``"key": "keyring"`` or the name of an
environment variable). Written atomically (temp file + rename) with mode 0600.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ChatExtError, Forbidden, StorageFull

#: overrides the location (tests point it at a tmp dir; Settings.providers_file wins over it)
ENV = "JUPYTER_CHAT_EXT_PROVIDERS_FILE"
VERSION = 1


def default_path() -> Path:
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    from jupyter_core.paths import jupyter_config_dir

    return Path(jupyter_config_dir()) / "chat_ext" / "providers.json"


class ProvidersFile:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path).expanduser() if path else default_path()

    def load(self) -> list[dict[str, Any]]:
        """The saved provider records ([] when there is no file); ValueError when unreadable."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        data = json.loads(text)
        items = data.get("providers") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ValueError(f"{self.path}: no 'providers' list")
        return [item for item in items if isinstance(item, dict)]

    def save(self, records: list[dict[str, Any]]) -> None:
        body = json.dumps({"version": VERSION, "providers": records}, indent=1, sort_keys=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".providers-", suffix=".json", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(body + "\n")
                os.chmod(tmp, 0o600)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise StorageFull(f"no space left to write {self.path}") from None
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise Forbidden(f"cannot write the providers file {self.path}: {exc.strerror}") from None
            raise ChatExtError(
                f"cannot write the providers file {self.path}: {exc.strerror or exc}",
                code="internal_error",
            ) from None
