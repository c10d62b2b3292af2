"""The checks a session or message write needs before it reaches the Store.

Only calls that add something live here (a title's default, the model resolved against the
registry, the options validated, an export format, the chat's size limit on an import); reads and
plain deletes go from ``ChatService`` straight to the Store. These calls are synchronous (one short
store call each); the doors run them on worker threads. Turns live in ``turns.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..settings import Settings
from ..store.types import Message, Session
from . import inputs
from .titles import DEFAULT_TITLE

if TYPE_CHECKING:
    from ..engine.engine import Engine
    from ..store.store import Store

_UPDATABLE = ("title", "model", "system_prompt", "params", "pinned")


class Sessions:
    def __init__(self, store: Store, engine: Engine, settings: Settings) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings

    def create_session(
        self,
        title: str | None = None,
        model: str | None = None,
        system_prompt: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Session:
        title = inputs.text("title", title)
        return self.store.create_session(
            title=(title or "").strip() or DEFAULT_TITLE,
            model=inputs.model(self.engine, model),
            system_prompt=inputs.text("system_prompt", system_prompt),
            params=inputs.params(params),
        )

    def update_session(self, session_id: str, **fields: Any) -> Session:
        unknown = set(fields) - set(_UPDATABLE)
        if unknown:
            raise InvalidInput(
                f"cannot update {', '.join(sorted(unknown))} (allowed: {', '.join(sorted(_UPDATABLE))})"
            )
        if "title" in fields:
            title = inputs.text("title", fields["title"], allow_none=False) or ""
            if not title.strip():
                raise InvalidInput("title must not be empty")
            fields["title"] = title.strip()
        if "model" in fields:
            fields["model"] = inputs.model(self.engine, fields["model"])
        if "system_prompt" in fields:
            fields["system_prompt"] = inputs.text("system_prompt", fields["system_prompt"])
        if "params" in fields:
            fields["params"] = inputs.params(fields["params"])
        if "pinned" in fields and not isinstance(fields["pinned"], bool):
            raise InvalidInput("pinned must be true or false")
        return self.store.update_session(session_id, **fields)

    def list_messages(self, session_id: str, before: int | None = None, limit: int = 100) -> list[Message]:
        self.store.get_session(session_id)  # NotFound for an unknown session, not an empty list
        return self.store.list_messages(session_id, before=before, limit=limit)

    def edit_message(self, message_id: int, content: str) -> Message:
        content = inputs.content(content, self.settings.max_content_chars)
        current = self.store.get_message(message_id)
        # one write for content + token count: the stored count of the old text would be wrong, so
        # it is cleared (None) and the next prompt build counts this message afresh
        return self.store.finish_message(
            message_id,
            content=content,
            status=current["status"],
            metadata=current["metadata"],
            tokens=None,
        )

    def export_session(self, session_id: str, fmt: str = "json") -> str:
        if fmt not in ("json", "markdown"):
            raise InvalidInput(f"unknown export format '{fmt}' (use json or markdown)")
        return self.store.export_session(session_id, fmt)

    def import_session(self, data: str | dict[str, Any]) -> Session:
        # an import obeys the chat's size limit: a 10 MB imported message used to stall every turn
        return self.store.import_session(data, max_content_chars=self.settings.max_content_chars)
