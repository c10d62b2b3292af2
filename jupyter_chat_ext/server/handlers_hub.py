"""Model hub routes: hardware profile, Hub search and file listings, the catalog, roles.

Every Hub call and every file read runs on the worker threads (``self.blocking``); the logic
lives in ``jupyter_chat_ext/hub/`` (a plain library, no tornado), the handlers only translate.
The pull itself (POST models/pull) and its job are in ``handlers_jobs.py``.
"""

from __future__ import annotations

from typing import Any

from jupyter_chat_ext.hub import catalog, search
from jupyter_chat_ext.hub.hardware import hardware_profile
from jupyter_chat_ext.hub.installed import pulled_dir
from jupyter_chat_ext.wire.hub import (
    Catalog,
    Hardware,
    HubFiles,
    HubFilesQuery,
    HubSearch,
    HubSearchQuery,
    Roles,
    RolesUpdate,
)
from jupyter_chat_ext.wire.ops import op

from .base import READ, WRITE, ChatExtHandler, requires


def _hardware(core: Any) -> dict[str, Any]:
    return hardware_profile(pulled_dir(core.settings))


class HardwareHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "This machine: cores, CPU features, RAM, free disk where pulled models go, GPUs, Jetson, the"
        " llama.cpp build (cached a few seconds)",
        answer=Hardware,
        tag="hub",
        errors=(503,),
        operation_id="getHardware",
    )
    async def get(self) -> None:
        core = await self.core()
        self.send_json(await self.blocking(_hardware, core))


class HubSearchHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "Models on the Hugging Face Hub (or HF_ENDPOINT) for a role, GGUF repos first",
        query=HubSearchQuery,
        answer=HubSearch,
        tag="hub",
        errors=(503,),
        operation_id="searchHub",
    )
    async def get(self, query: HubSearchQuery) -> None:
        models = await self.long_call(search.search_models, query.q, query.kind, query.limit)
        self.send_json({"models": models})


class HubFilesHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "A repo's loadable files (each GGUF, split parts grouped; the safetensors folder as one"
        " entry) with whether each fits this machine",
        query=HubFilesQuery,
        answer=HubFiles,
        tag="hub",
        errors=(503,),
        operation_id="listHubFiles",
    )
    async def get(self, query: HubFilesQuery) -> None:
        repo, revision = query.repo, query.revision or None
        core = await self.core()

        def listing() -> dict[str, Any]:
            hardware = _hardware(core)
            lookup = core.installed()
            return search.repo_files(
                repo, revision, hardware, installed=lambda r, f: lookup(r, f) is not None
            )

        self.send_json(await self.long_call(listing))


class CatalogHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "Recommended models by role with fits and installed, and a suggested pick per role for this machine",
        answer=Catalog,
        tag="hub",
        errors=(503,),
        operation_id="getCatalog",
    )
    async def get(self) -> None:
        core = await self.core()

        def view() -> dict[str, Any]:
            return catalog.catalog_view(_hardware(core), core.installed())

        self.send_json(await self.blocking(view))


class RolesHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "The models of each role (chat, inline completion, embedding, rerank) and what is used now",
        answer=Roles,
        tag="hub",
        errors=(503,),
        operation_id="getRoles",
    )
    async def get(self) -> None:
        core = await self.core()
        self.send_json(await self.blocking(core.roles_view))

    @requires(WRITE)
    @op(
        "Choose models for roles (saved in <data_dir>/roles.json; 404 unknown model, 400 wrong kind)",
        body=RolesUpdate,
        answer=Roles,
        tag="hub",
        errors=(503,),
        operation_id="setRoles",
    )
    async def put(self, body: RolesUpdate) -> None:
        core = await self.core()
        self.send_json(await self.blocking(core.set_roles, body.given()))
