"""Show a model load in the cell output before the first answer of a fresh kernel.

A fresh install loads the packaged model on the first ``%%chat`` (17-30 s with the transformers
backend, a blank cell until now). The turn asks for the model's state first; unless it is loaded
it starts the load and polls ``progress``/``state`` into one display (``display_id``), updated in
place, then streams the answer as usual. The same poll feeds the ChatWidget's progress bar.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

from .client import ChatClient, ProgressCallback


def session_model(client: ChatClient, session: dict[str, Any]) -> str | None:
    """The model a turn of ``session`` will use: the session's own, else the default."""
    return session.get("model") or client.default_model()


def ensure_loaded(
    client: ChatClient, model_id: str | None, progress: ProgressCallback, poll_s: float = 0.25
) -> bool:
    """Load ``model_id`` unless it is loaded, reporting progress; True when a load happened.

    Unknown ids are left to the turn itself (it gives the typed NotFound with the hint).
    """
    if not model_id:
        return False
    from ..errors import NotFound

    try:
        info = client.get_model(model_id)
    except NotFound:
        return False
    if info.get("state") == "loaded":
        return False
    client.load_model(info.get("id", model_id), progress=progress, poll_s=poll_s)
    return True


def describe_load(model_id: str, fraction: float, info: dict[str, Any]) -> str:
    """One line for a load under way, e.g. ``loading smollm2-135m-instruct: 40% (loading)``."""
    detail = info.get("message") or info.get("stage") or info.get("state") or ""
    return f"loading {model_id}: {round(100 * max(0.0, min(1.0, fraction)))}%" + (
        f" ({detail})" if detail else ""
    )


class LoadDisplay:
    """One output area updated in place while a model loads (plain text + an HTML bar)."""

    def __init__(self, model_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.model_id = model_id
        self.updates = 0
        self._handle: Any = None
        self._clock = clock
        self._t0 = clock()

    def _bundle(self, text: str, fraction: float | None) -> dict[str, str]:
        bar = f'<progress value="{fraction:.3f}" max="1"></progress> ' if fraction is not None else ""
        return {"text/plain": text, "text/html": f"<div>{bar}{html.escape(text)}</div>"}

    def __call__(self, fraction: float, info: dict[str, Any]) -> None:
        from IPython.display import display

        bundle = self._bundle(describe_load(self.model_id, fraction, info), fraction)
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
        self.updates += 1

    def finish(self) -> None:
        if self._handle is not None:
            took = self._clock() - self._t0
            self._handle.update(self._bundle(f"loaded {self.model_id} in {took:.1f} s", None), raw=True)
