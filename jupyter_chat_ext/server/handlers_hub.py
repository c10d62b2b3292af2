"""Model hub routes: hardware profile, Hub search and file listings, the catalog, roles.

Every Hub call and every file read runs on the worker threads (``self.blocking``); the logic
lives in ``jupyter_chat_ext/hub/`` (a plain library, no tornado), the handlers only translate.
The pull itself (POST models/pull) and its job are in ``handlers_jobs.py``.
"""

from __future__ import annotations

from typing import Any

from jupyter_chat_ext.errors import InvalidInput
from jupyter_chat_ext.hub import catalog, roles, search
from jupyter_chat_ext.hub.hardware import hardware_profile
from jupyter_chat_ext.hub.installed import installed_lookup, pulled_dir

from .base import READ, WRITE, ChatExtHandler, requires


def _hardware(core: Any) -> dict[str, Any]:
    return hardware_profile(pulled_dir(core.settings))


class HardwareHandler(ChatExtHandler):
    @requires(READ)
    async def get(self) -> None:
        core = await self.core()
        self.send_json(await self.blocking(_hardware, core))


class HubSearchHandler(ChatExtHandler):
    @requires(READ)
    async def get(self) -> None:
        q = self.query_str("q", None, max_len=200)
        kind = self.query_str("kind", None, max_len=20) or None
        limit = self.query_int("limit", 20, lo=1, hi=search.MAX_LIMIT)
        models = await self.long_call(search.search_models, q, kind, limit)
        self.send_json({"models": models})


class HubFilesHandler(ChatExtHandler):
    @requires(READ)
    async def get(self) -> None:
        repo = self.query_str("repo", None, max_len=200)
        if not repo:
            raise InvalidInput("query parameter 'repo' (owner/name) is required")
        revision = self.query_str("revision", None, max_len=200) or None
        core = await self.core()

        def listing() -> dict[str, Any]:
            hardware = _hardware(core)
            lookup = installed_lookup(core.engine.registry.all())
            return search.repo_files(
                repo, revision, hardware, installed=lambda r, f: lookup(r, f) is not None
            )

        self.send_json(await self.long_call(listing))


class CatalogHandler(ChatExtHandler):
    @requires(READ)
    async def get(self) -> None:
        core = await self.core()

        def view() -> dict[str, Any]:
            return catalog.catalog_view(_hardware(core), installed_lookup(core.engine.registry.all()))

        self.send_json(await self.blocking(view))


class RolesHandler(ChatExtHandler):
    @requires(READ)
    async def get(self) -> None:
        core = await self.core()
        self.send_json(await self.blocking(roles.roles_view, core.engine))

    @requires(WRITE)
    async def put(self) -> None:
        body = self.json_body()
        core = await self.core()

        def update() -> dict[str, Any]:
            return roles.update_roles(
                core.engine, body, on_embedding_change=lambda: roles.switch_embedder(core)
            )

        self.send_json(await self.blocking(update))
