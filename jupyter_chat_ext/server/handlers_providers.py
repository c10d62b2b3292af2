"""OpenAI-compatible providers added at run time: list, add, edit, remove, test.

Thin: the core's ``ProviderService`` (``jupyter_chat_ext/providers/``) validates, saves and applies
every change. Keys arrive in request bodies only; no answer of these routes ever carries one.
Testing makes outgoing requests on the server's behalf, so it needs the ``execute`` permission.
"""

from __future__ import annotations

from typing import Any

from jupyter_chat_ext.errors import Unavailable

from .base import EXECUTE, READ, WRITE, ChatExtHandler, requires


class ProvidersBase(ChatExtHandler):
    async def providers(self) -> Any:
        core = await self.core()
        if core.providers is None:
            raise Unavailable("providers are not available in this server")
        return core.providers


class ProvidersHandler(ProvidersBase):
    @requires(READ)
    async def get(self) -> None:
        service = await self.providers()
        self.send_json(await self.blocking(service.list))

    @requires(WRITE)
    async def post(self) -> None:
        body = self.json_body()
        service = await self.providers()
        self.send_json(await self.blocking(service.add, body), status=201)


class ProviderHandler(ProvidersBase):
    @requires(READ)
    async def get(self, name: str) -> None:
        service = await self.providers()
        self.send_json(await self.blocking(service.get, name))

    @requires(WRITE)
    async def put(self, name: str) -> None:
        body = self.json_body()
        service = await self.providers()
        self.send_json(await self.blocking(service.update, name, body))

    @requires(WRITE)
    async def delete(self, name: str) -> None:
        service = await self.providers()
        self.send_json(await self.blocking(service.remove, name))


class ProviderTestHandler(ProvidersBase):
    @requires(EXECUTE)
    async def post(self, name: str) -> None:
        body = self.json_body(required=False)
        service = await self.providers()
        # two requests to the endpoint (seconds on a cold model): the slow pool, not the chats'
        self.send_json(await self.long_call(service.test, name, body))
