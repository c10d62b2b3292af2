"""Provider keys in the OS keyring (the ``keyring`` library), never in a file of ours.

On a desktop ``keyring`` picks the Secret Service (GNOME Keyring, KWallet), the macOS Keychain or
the Windows Credential Locker. A headless server often has none: ``keyring`` then falls back to its
``fail`` backend and every call raises. :meth:`KeyStore.status` says so, and the doors then only
accept a key given as the *name* of an environment variable. A file backend (``keyrings.alt``)
keeps the keys in a file readable by the user (plain text for ``PlaintextKeyring``): ``keyring``
picks it by itself whenever the package is installed, so it counts here only when chosen on
purpose (``PYTHON_KEYRING_BACKEND`` or a ``keyringrc.cfg``), and the status note then says what it
is, so nobody mistakes it for a vault.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, Unavailable

log = logging.getLogger(__name__)

#: the keyring "service" every provider key is stored under (the username is the provider name)
SERVICE = "jupyter-chat-ext"


def _backend() -> Any:
    """The keyring backend in use, or None when ``keyring`` is missing or has no usable backend."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return None
    try:
        kr = keyring.get_keyring()
    except Exception:  # a broken backend configuration: treat as none
        return None
    if isinstance(kr, fail.Keyring) or type(kr).__module__.endswith("backends.null"):
        return None
    if isinstance(kr, chainer.ChainerBackend) and not kr.backends:
        return None
    if type(kr).__module__.startswith("keyrings.alt") and not _chosen_on_purpose():
        return None  # installed by some other package, never chosen: not a keyring for secrets
    return kr


def _chosen_on_purpose() -> bool:
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    try:
        from keyring.util import platform_

        return (Path(platform_.config_root()) / "keyringrc.cfg").is_file()
    except Exception:
        return False


class KeyStore:
    """Set, read and delete provider keys; ``available`` is False when there is no keyring."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._kr: Any = None
        self._probed = False

    @property
    def backend(self) -> Any:
        with self._lock:
            if not self._probed:
                self._kr, self._probed = _backend(), True
            return self._kr

    @property
    def available(self) -> bool:
        return self.backend is not None

    def status(self) -> dict[str, Any]:
        kr = self.backend
        if kr is None:
            return {
                "available": False,
                "backend": None,
                "note": "No OS keyring on this machine (headless server?): give the key as the name "
                "of an environment variable set for the Jupyter server instead.",
            }
        name = f"{type(kr).__module__}.{type(kr).__name__}"
        note = "Keys are stored in the OS keyring."
        if type(kr).__module__.startswith("keyrings.alt"):
            plain = "Plaintext" in type(kr).__name__
            note = (
                "Keys are stored by keyrings.alt in a file of your home folder"
                + (" in PLAIN TEXT" if plain else "")
                + ": protected only by the file's permissions, not a real keyring."
            )
        return {"available": True, "backend": name, "note": note}

    def set(self, name: str, key: str) -> None:
        kr = self._require()
        try:
            kr.set_password(self.service, name, key)
        except Exception as exc:  # never echo the key: only the backend's error type
            raise Unavailable(
                f"the keyring did not store the key of '{name}' ({type(exc).__name__})"
            ) from None

    def get(self, name: str) -> str | None:
        kr = self.backend
        if kr is None:
            return None
        try:
            return kr.get_password(self.service, name)
        except Exception as exc:
            log.warning("provider %s: reading its key from the keyring failed (%s)", name, type(exc).__name__)
            return None

    def delete(self, name: str) -> None:
        kr = self.backend
        if kr is None:
            return
        try:
            if kr.get_password(self.service, name) is not None:
                kr.delete_password(self.service, name)
        except Exception as exc:
            log.warning(
                "provider %s: deleting its key from the keyring failed (%s)", name, type(exc).__name__
            )

    def _require(self) -> Any:
        kr = self.backend
        if kr is None:
            raise InvalidInput(
                "there is no OS keyring on this machine to keep the key: set it in an environment "
                "variable of the Jupyter server and give that variable's name (api_key_env)",
                code="unsupported",
            )
        return kr
