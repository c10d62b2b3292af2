"""OpenAI-compatible providers added at run time: list, add, edit, remove, test.

Thin: the core's ``ProviderService`` (``jupyter_chat_ext/providers/``) validates, saves and applies
every change. Keys arrive in request bodies only; no answer of these routes ever carries one.
Testing makes outgoing requests on the server's behalf, so it needs the ``execute`` permission.
"""

from __future__ import annotations

from typing import Any

from jupyter_chat_ext.errors import Unavailable
from jupyter_chat_ext.wire.links import links
from jupyter_chat_ext.wire.ops import op
from jupyter_chat_ext.wire.providers import (
    Provider,
    ProviderCreate,
    ProviderDeleted,
    ProviderList,
    ProviderTestRequest,
    ProviderTestResult,
    ProviderUpdate,
)

from .base import EXECUTE, READ, WRITE, ChatExtHandler, requires

PROVIDER_LINKS = links(
    "name",
    "/name",
    GetProvider="getProvider",
    UpdateProvider="updateProvider",
    TestProvider="testProvider",
    DeleteProvider="deleteProvider",
)


class ProvidersBase(ChatExtHandler):
    async def providers(self) -> Any:
        core = await self.core()
        if core.providers is None:
            raise Unavailable("providers are not available in this server")
        return core.providers


class ProvidersHandler(ProvidersBase):
    @requires(READ)
    @op(
        "Configured endpoints (read-only) and providers added at run time, presets, keyring state",
        answer=ProviderList,
        tag="providers",
        errors=(503,),
        operation_id="listProviders",
    )
    async def get(self) -> None:
        service = await self.providers()
        self.send_json(await self.blocking(service.list))

    @requires(WRITE)
    @op(
        "Add an OpenAI-compatible endpoint; its models show as <name>/<model> at once. A key goes to"
        " the OS keyring (400 when there is none: name an environment variable instead)",
        body=ProviderCreate,
        answer=Provider,
        status=201,
        tag="providers",
        errors=(409, 503, 507),
        links=PROVIDER_LINKS,
        operation_id="addProvider",
    )
    async def post(self, body: ProviderCreate) -> None:
        service = await self.providers()
        self.send_json(await self.blocking(service.add, body.given()), status=201)


class ProviderHandler(ProvidersBase):
    @requires(READ)
    @op(
        "A provider (no key)", answer=Provider, tag="providers", errors=(409, 503), operation_id="getProvider"
    )
    async def get(self, name: str) -> None:
        service = await self.providers()
        self.send_json(await self.blocking(service.get, name))

    @requires(WRITE)
    @op(
        "Change a provider added at run time (409 for one of jupyter_server_config)",
        body=ProviderUpdate,
        answer=Provider,
        tag="providers",
        errors=(409, 503, 507),
        operation_id="updateProvider",
    )
    async def put(self, name: str, body: ProviderUpdate) -> None:
        service = await self.providers()
        self.send_json(await self.blocking(service.update, name, body.given()))

    @requires(WRITE)
    @op(
        "Remove a provider and its key from the keyring",
        answer=ProviderDeleted,
        tag="providers",
        errors=(409, 503),
        operation_id="deleteProvider",
    )
    async def delete(self, name: str) -> None:
        service = await self.providers()
        self.send_json(await self.blocking(service.remove, name))


class ProviderTestHandler(ProvidersBase):
    @requires(EXECUTE)
    @op(
        "List the endpoint's models and stream a short answer (time to first token); a saved"
        " provider, or the draft in the body before it is saved",
        body=ProviderTestRequest,
        body_optional=True,
        answer=ProviderTestResult,
        tag="providers",
        errors=(503,),
        operation_id="testProvider",
    )
    async def post(self, name: str, body: ProviderTestRequest) -> None:
        service = await self.providers()
        # two requests to the endpoint (seconds on a cold model): the slow pool, not the chats'
        self.send_json(await self.long_call(service.test, name, body.given()))
