"""Health, Prometheus metrics and the model registry routes."""

from __future__ import annotations

import time
from typing import Any

from tornado import web

from jupyter_chat_ext import __version__
from jupyter_chat_ext.errors import ChatExtError, NotFound

from .base import ChatExtHandler
from .metrics import engine_queue_depth


class HealthHandler(ChatExtHandler):
    @web.authenticated
    async def get(self) -> None:
        app = self.chat_app
        body: dict[str, Any] = {"version": __version__, "uptime_s": round(time.time() - app.started_at, 3)}
        try:
            core = await self.core()
        except ChatExtError as exc:
            body.update(status="error", error=exc.to_dict()["error"], engine=None, store=None)
            self.send_json(body, status=503)
            return

        def probe() -> dict[str, Any]:
            models = core.engine.list_models()
            loaded = [m for m in models if isinstance(m, dict) and m.get("state") == "loaded"]
            return {
                "engine": {
                    "default_model": core.settings.default_model,
                    "device": core.settings.device,
                    "models": len(models),
                    "loaded": [
                        {"id": m.get("id"), "device": m.get("device"), "dtype": m.get("dtype")}
                        for m in loaded
                    ],
                    "loading": [
                        m.get("id") for m in models if isinstance(m, dict) and m.get("state") == "loading"
                    ],
                    "queue_depth": engine_queue_depth(core.engine),
                },
                "store": {"path": str(core.settings.db_path), "sessions": core.store.count_sessions()},
                "rag": {"available": core.rag is not None, "error": core.rag_error},
            }

        body.update(status="ok", **(await self.blocking(probe)))
        self.send_json(body)


class MetricsHandler(ChatExtHandler):
    @web.authenticated
    async def get(self) -> None:
        metrics = self.chat_app.metrics
        core = self.chat_app._core  # scraping never starts the core
        if core is not None:
            await self.blocking(metrics.refresh_engine, core.engine)
        payload, content_type = metrics.render()
        self.finish(payload, set_content_type=content_type)


class ModelsHandler(ChatExtHandler):
    @web.authenticated
    async def get(self) -> None:
        core = await self.core()
        self.send_json({"models": await self.blocking(core.engine.list_models)})


class ModelHandler(ChatExtHandler):
    @web.authenticated
    async def get(self, model_id: str) -> None:
        core = await self.core()
        self.send_json(await self.blocking(core.engine.get_model, model_id))


class ModelLoadHandler(ChatExtHandler):
    @web.authenticated
    async def post(self, model_id: str) -> None:
        core = await self.core()
        info = await self.blocking(core.engine.start_load, model_id)
        self.send_json(info, status=202)


class ModelUnloadHandler(ChatExtHandler):
    @web.authenticated
    async def post(self, model_id: str) -> None:
        core = await self.core()
        self.send_json(await self.blocking(core.engine.unload, model_id))


class UnknownRouteHandler(ChatExtHandler):
    """Any other path under /chat-ext/: a JSON 404 (after authentication) instead of an HTML page."""

    def _unknown(self, rest: str) -> None:
        raise NotFound(f"no route /chat-ext/{rest}")

    @web.authenticated
    def get(self, rest: str) -> None:
        self._unknown(rest)

    @web.authenticated
    def post(self, rest: str) -> None:
        self._unknown(rest)

    @web.authenticated
    def patch(self, rest: str) -> None:
        self._unknown(rest)

    @web.authenticated
    def put(self, rest: str) -> None:
        self._unknown(rest)

    @web.authenticated
    def delete(self, rest: str) -> None:
        self._unknown(rest)
