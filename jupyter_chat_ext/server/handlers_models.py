"""Health, Prometheus metrics and the model registry routes."""

from __future__ import annotations

import time
from typing import Any

from jupyter_chat_ext import __version__
from jupyter_chat_ext.errors import ChatExtError, NotFound
from jupyter_chat_ext.wire.base import Error
from jupyter_chat_ext.wire.models import ModelDeleted, ModelInfo, ModelList
from jupyter_chat_ext.wire.ops import op
from jupyter_chat_ext.wire.server import Health, HealthDown

from .base import EXECUTE, READ, WRITE, ChatExtHandler, requires

#: the catch-all's summary: every method of a path no route matches is a JSON 404
UNKNOWN = "Any path under /chat-ext/ that no other route matches: a JSON 404 (403 without credentials)"
#: what the model routes answer besides 4XX: 503 while the core or the model is not ready
UNAVAILABLE = (503,)


class HealthHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "Engine, store and RAG state, version, uptime (503 while the core cannot start)",
        answer=Health,
        tag="server",
        errors=((503, HealthDown),),
        operation_id="getHealth",
    )
    async def get(self) -> None:
        uptime = round(time.time() - self.chat_app.started_at, 3)
        try:
            core = await self.core()
        except ChatExtError as exc:  # the same shape, with the reason the core is not there
            body: dict[str, Any] = {"status": "error", "version": __version__, "uptime_s": uptime}
            body.update(error=exc.to_dict()["error"], engine=None, store=None, rag=None)
            self.send_json(body, status=503)
            return
        health = await self.blocking(core.health)  # Core.health: the one shape (kernel too)
        self.send_json({**health, "uptime_s": uptime})


class MetricsHandler(ChatExtHandler):
    @requires(READ)
    @op("Prometheus text exposition", answer=str, media="text/plain", tag="server", operation_id="getMetrics")
    async def get(self) -> None:
        metrics = self.chat_app.metrics
        core = self.chat_app._core  # scraping never starts the core
        if core is not None:
            await self.blocking(metrics.refresh_engine, core.engine)
        payload, content_type = metrics.render()
        self.finish(payload, set_content_type=content_type)


class ModelsHandler(ChatExtHandler):
    @requires(READ)
    @op(
        "Every model the registry knows, with its roles; configured sources not in use under notes",
        answer=ModelList,
        tag="models",
        errors=UNAVAILABLE,
        operation_id="listModels",
    )
    async def get(self) -> None:
        core = await self.core()
        # with roles and tools hints; notes: configured models not listed, and why
        self.send_json(await self.blocking(core.model_list))


class ModelHandler(ChatExtHandler):
    @requires(READ)
    @op("A model and its state", answer=ModelInfo, tag="models", errors=UNAVAILABLE, operation_id="getModel")
    async def get(self, model_id: str) -> None:
        core = await self.core()
        self.send_json(await self.blocking(core.engine.get_model, model_id))

    @requires(EXECUTE)
    @op(
        "Remove a model pulled from the Hub (unloaded first); 403 for packaged and user-folder"
        " models, 409 while it is a role's model or being pulled",
        answer=ModelDeleted,
        tag="models",
        errors=(409, 503),
        operation_id="deleteModel",
    )
    async def delete(self, model_id: str) -> None:
        """Remove a model pulled from the Hub (unloaded first); 403 for packaged and user-folder models."""
        core = await self.core()
        self.send_json(await self.blocking(core.delete_model, model_id))


class ModelLoadHandler(ChatExtHandler):
    @requires(EXECUTE)
    @op(
        "Start loading in the background; poll GET /models/{model_id}",
        answer=ModelInfo,
        status=202,
        tag="models",
        errors=(503, 507),
        operation_id="loadModel",
    )
    async def post(self, model_id: str) -> None:
        core = await self.core()
        info = await self.blocking(core.engine.start_load, model_id)
        self.send_json(info, status=202)


class ModelUnloadHandler(ChatExtHandler):
    @requires(EXECUTE)
    @op(
        "Unload a model (its memory is freed)",
        answer=ModelInfo,
        tag="models",
        errors=UNAVAILABLE,
        operation_id="unloadModel",
    )
    async def post(self, model_id: str) -> None:
        core = await self.core()
        self.send_json(await self.blocking(core.engine.unload, model_id))


class UnknownRouteHandler(ChatExtHandler):
    """Any other path under /chat-ext/: a JSON 404 (after authentication) instead of an HTML page."""

    def _unknown(self, rest: str) -> None:
        raise NotFound(f"no route /chat-ext/{rest}")

    @requires(READ)
    @op(UNKNOWN, answer=Error, status=404, tag="server", operation_id="unknownGet")
    def get(self, rest: str) -> None:
        self._unknown(rest)

    @requires(WRITE)
    @op(UNKNOWN, answer=Error, status=404, tag="server", operation_id="unknownPost")
    def post(self, rest: str) -> None:
        self._unknown(rest)

    @requires(WRITE)
    @op(UNKNOWN, answer=Error, status=404, tag="server", operation_id="unknownPatch")
    def patch(self, rest: str) -> None:
        self._unknown(rest)

    @requires(WRITE)
    @op(UNKNOWN, answer=Error, status=404, tag="server", operation_id="unknownPut")
    def put(self, rest: str) -> None:
        self._unknown(rest)

    @requires(WRITE)
    @op(UNKNOWN, answer=Error, status=404, tag="server", operation_id="unknownDelete")
    def delete(self, rest: str) -> None:
        self._unknown(rest)
