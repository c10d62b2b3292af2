"""What the three widgets share: the client, a background worker, error reporting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..errors import ChatExtError
from ..kernel.client import ChatClient

STATIC = Path(__file__).parent  # the .js/.css files sit next to the Python; see esm.py for the .js


class ClientWidget(anywidget.AnyWidget):
    """An anywidget that does its work through the shared chat client on worker threads.

    The Python side owns all state; the JS side renders traitlets and sends ``{"type": ...}``
    messages that are dispatched to ``on_<type>`` methods.
    """

    _css = STATIC / "widgets.css"

    busy = traitlets.Bool(False).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, client: ChatClient | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client = client
        self._worker: threading.Thread | None = None
        self.on_msg(self._dispatch)

    @property
    def client(self) -> ChatClient:
        if self._client is None:
            from ..kernel.connection import get_client

            self._client = get_client()
        return self._client

    def _dispatch(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        handler = getattr(self, f"on_{content.get('type')}", None)
        if handler is None:
            self.error = f"unknown widget message {content.get('type')!r}"
            return
        self._guard(lambda: handler(content))

    def _guard(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn``; a core error becomes the widget's error line instead of a traceback."""
        try:
            return fn()
        except ChatExtError as exc:
            self.error = exc.message
        except Exception as exc:  # a widget must stay usable whatever happened
            self.error = f"{type(exc).__name__}: {exc}"
        return None

    def _start(self, fn: Callable[[], Any]) -> threading.Thread:
        """Run ``fn`` on a worker thread (one at a time); ``busy`` is True meanwhile."""
        if self._worker is not None and self._worker.is_alive():
            raise ChatExtError("busy with the previous request", code="busy")
        self.error = ""
        self.busy = True

        def run() -> None:
            try:
                self._guard(fn)
            finally:
                self.busy = False

        self._worker = threading.Thread(target=run, name=f"{type(self).__name__}-worker", daemon=True)
        self._worker.start()
        return self._worker

    def wait(self, timeout: float | None = None) -> None:
        """Block until the current background request is over."""
        if self._worker is not None:
            self._worker.join(timeout)
