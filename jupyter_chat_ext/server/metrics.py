"""Prometheus metrics of the extension, in a dedicated CollectorRegistry.

prometheus_client ships with jupyter_server. The registry is the extension's own (Jupyter's global
one keeps its metrics), served as text at ``/chat-ext/metrics``. Gauges that describe the engine
(queue depth, loaded models) are read when the metrics are scraped.
"""

from __future__ import annotations

from typing import Any

from jupyter_chat_ext.core import engine_queue_depth

TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TPS_BUCKETS = (1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 250, 500)


class ServerMetrics:
    """Counters and histograms fed by the handlers; engine gauges read at scrape time."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "chat_ext_http_requests",
            "HTTP requests answered by the extension",
            ["handler", "method", "status"],
            registry=r,
        )
        self.tokens = Counter("chat_ext_tokens", "Tokens processed by generations", ["kind"], registry=r)
        self.generations = Counter(
            "chat_ext_generations", "Finished generations by finish reason", ["finish_reason"], registry=r
        )
        self.errors = Counter("chat_ext_generation_errors", "Generation errors by code", ["code"], registry=r)
        self.ttft = Histogram(
            "chat_ext_time_to_first_token_seconds", "Time to first token", buckets=TTFT_BUCKETS, registry=r
        )
        self.tokens_per_s = Histogram(
            "chat_ext_tokens_per_second", "Decode speed of each generation", buckets=TPS_BUCKETS, registry=r
        )
        self.active_streams = Gauge(
            "chat_ext_active_streams", "Generations being streamed to clients now", registry=r
        )
        self.queue_depth = Gauge(
            "chat_ext_queue_depth", "Generation requests waiting or running in the engine", registry=r
        )
        self.model_loaded = Gauge(
            "chat_ext_model_loaded", "1 for each model loaded in the engine", ["model", "device"], registry=r
        )
        self._active = 0

    # -- observations ------------------------------------------------------------------------
    def observe_request(self, handler: str, method: str, status: int) -> None:
        self.requests.labels(handler, method, str(status)).inc()

    def observe_generation(self, metrics: dict[str, Any], finish_reason: Any) -> None:
        self.generations.labels(str(finish_reason or "unknown")).inc()
        prompt = metrics.get("prompt_tokens")
        completion = metrics.get("completion_tokens")
        if isinstance(prompt, (int, float)):
            self.tokens.labels("prompt").inc(prompt)
        if isinstance(completion, (int, float)):
            self.tokens.labels("completion").inc(completion)
        ttft = metrics.get("ttft_s")
        if isinstance(ttft, (int, float)):
            self.ttft.observe(ttft)
        tps = metrics.get("tokens_per_s")
        if isinstance(tps, (int, float)) and tps > 0:
            self.tokens_per_s.observe(tps)

    def observe_error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def stream_started(self) -> None:
        self._active += 1
        self.active_streams.set(self._active)

    def stream_finished(self) -> None:
        self._active -= 1
        self.active_streams.set(self._active)

    # -- scrape ------------------------------------------------------------------------------
    def refresh_engine(self, engine: Any) -> None:
        """Read queue depth and loaded models from the engine (cheap: no model work)."""
        if engine is None:
            return
        depth = engine_queue_depth(engine)
        self.queue_depth.set(depth if depth is not None else self._active)
        self.model_loaded.clear()
        try:
            models = engine.list_models()
        except Exception:
            return
        for info in models:
            if isinstance(info, dict) and info.get("state") == "loaded":
                self.model_loaded.labels(str(info.get("id")), str(info.get("device") or "")).set(1)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
