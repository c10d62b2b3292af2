"""ModelPanel: the models the engine knows, their size and state, load/unload and Hub pulls with progress."""

from __future__ import annotations

from typing import Any

import traitlets

from ..kernel.client import ChatClient
from .base import ClientWidget
from .esm import build_esm

_FIELDS = (
    "id",
    "kind",
    "source",
    "format",
    "size_bytes",
    "parameters",
    "context_length",
    "state",
    "progress",
    "device",
    "dtype",
    "error",
)


def _model_view(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m.get(k) for k in _FIELDS}


class ModelPanel(ClientWidget):
    """A table of models with Load/Unload buttons and a progress bar for the load under way."""

    _esm = build_esm("models.js")

    models = traitlets.List(traitlets.Dict()).tag(sync=True)
    #: the model being loaded ("" when none) and its progress 0..1
    loading = traitlets.Unicode("").tag(sync=True)
    progress = traitlets.Float(0.0).tag(sync=True)
    #: what the progress bar shows ("Loading x", "Pulling owner/name:file 120/400 MB")
    progress_label = traitlets.Unicode("").tag(sync=True)
    #: the last pull job (kernel/hub_door.py: the server's job record)
    pull_job = traitlets.Dict().tag(sync=True)

    def __init__(self, client: ChatClient | None = None, *, poll_s: float = 0.25, **kwargs: Any) -> None:
        super().__init__(client=client, **kwargs)
        self._poll_s = poll_s
        self._guard(self.refresh)

    def refresh(self) -> None:
        self.models = [_model_view(m) for m in self.client.list_models()]

    def _set_one(self, info: dict[str, Any]) -> None:
        view = _model_view(info)
        self.models = [view if m["id"] == view["id"] else m for m in self.models]

    def load(self, model_id: str, wait: bool = False, timeout: float | None = None) -> None:
        """Load a model on a worker thread; ``progress`` and ``models`` follow it."""

        def work() -> None:
            self.loading, self.progress = model_id, 0.0

            def progress(fraction: float, info: dict[str, Any]) -> None:
                self.progress = fraction
                self._set_one(info)

            try:
                self.client.load_model(model_id, progress=progress, poll_s=self._poll_s)
                self.progress = 1.0
            finally:
                self.loading = ""
                self.refresh()

        self._start(work)
        if wait:
            self.wait(timeout)

    def unload(self, model_id: str, wait: bool = False, timeout: float | None = None) -> None:
        def work() -> None:
            self._set_one(self.client.unload_model(model_id))

        self._start(work)
        if wait:
            self.wait(timeout)

    def pull(self, target: str, wait: bool = False, timeout: float | None = None) -> None:
        """Pull ``owner/name[:file]`` or a catalog id from the Hub on a worker thread (a progress bar)."""
        from ..kernel import hub_door

        def work() -> None:
            entries = hub_door.catalog(self.client)["entries"] if "/" not in target else None
            body = hub_door.parse_target(target, entries)
            label = body["repo"] + (f":{body['file']}" if body.get("file") else "")
            self.progress, self.progress_label = 0.0, f"Pulling {label}"

            def show(job: dict[str, Any]) -> None:
                done, total = int(job.get("bytes_done") or 0), int(job.get("bytes_total") or 0)
                self.pull_job = job
                self.progress = done / total if total else 0.0
                self.progress_label = (
                    f"Pulling {label}: {done / 2**20:.0f}/{total / 2**20:.0f} MB ({job.get('state')})"
                )

            try:
                job = hub_door.pull(self.client, body, show, poll_s=self._poll_s)
                if job.get("state") != "done":
                    message = (job.get("error") or {}).get("message") or job.get("state")
                    self.error = f"pull of {label} {job.get('state')}: {message}"
            finally:
                self.progress_label = ""
                self.refresh()

        self._start(work)
        if wait:
            self.wait(timeout)

    def on_pull(self, content: dict[str, Any]) -> None:
        self.pull(str(content.get("target", "")).strip())

    def on_load(self, content: dict[str, Any]) -> None:
        self.load(str(content.get("id", "")))

    def on_unload(self, content: dict[str, Any]) -> None:
        self.unload(str(content.get("id", "")))

    def on_refresh(self, content: dict[str, Any]) -> None:
        self.refresh()
