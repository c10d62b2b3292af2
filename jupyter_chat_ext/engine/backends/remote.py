"""The remote backend: a model of an OpenAI-compatible endpoint (vLLM, Ollama, llama-server, ...).

A request streams ``POST <base_url>/chat/completions`` (or ``/completions`` for raw prompts) and
parses the Server-Sent Events with httpx-sse. Connect errors are retried with backoff before any
byte was sent back (nothing can be duplicated then); everything else fails at once with a typed
error event. The endpoint's circuit breaker turns a dead endpoint into an immediate 503
``endpoint_unavailable``. Cancelling the request cancels the task, which closes the upstream
stream, so the endpoint stops generating too.

There is no local tokenizer: prompt lengths are estimated (~4 characters a token) for the
history window, and the metrics use the endpoint's ``usage`` when it sends one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from typing import Any

from ...errors import Busy, ChatExtError, InvalidInput, NotFound, Unavailable
from ..registry import ModelInfo
from ..structured_run import StructuredRun, new_call_id
from .base import GenRequest, Messages, Progress, capabilities, error_event
from .remote_pool import Endpoint, RemotePool

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
CONNECT_TIMEOUT_S = 3.0
CONNECT_RETRIES = 2
RETRY_BASE_S = 0.25


def _estimate(text: str) -> int:
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


class _Upstream(Exception):
    """A failure of the endpoint, already turned into the typed error for the event."""

    def __init__(self, error: ChatExtError) -> None:
        super().__init__(error.message)
        self.error = error


class RemoteRuntime:
    backend = "remote"

    def __init__(self, info: ModelInfo, endpoint: Endpoint, pool: RemotePool, settings: Any) -> None:
        self.model_id = info.id
        self.remote_model = str(info.extra.get("remote_model") or info.id.split("/", 1)[1])
        self.endpoint = endpoint
        self.pool = pool
        self.device = f"remote:{endpoint.name}"
        self.dtype: str | None = None
        self.notes = [f"served by remote endpoint '{endpoint.name}'; token counts are estimates"]
        self.load_s = 0.0
        self.from_cache = False
        ctx = info.context_length or 8192
        if settings.context_budget:
            ctx = min(ctx, settings.context_budget)
        self.context_length = ctx
        self.max_queue = settings.max_queue
        self._count_lock = threading.Lock()
        self._inflight = 0
        self.requests = 0
        self.failures = 0

    # -- the protocol ---------------------------------------------------------------------------
    @property
    def queue_depth(self) -> int:
        return 0  # the endpoint queues; we only bound what is in flight

    @property
    def active_count(self) -> int:
        return self._inflight

    def capabilities(self) -> dict[str, Any]:
        # response_format / tools go through to the endpoint, which honours them or answers 400
        return capabilities(self.backend, batching=True, grammar=True, tools=True)

    def structured_run(self, spec: Any) -> StructuredRun:
        """No grammar here: the endpoint constrains; ``spec`` rides along in the request body."""
        return StructuredRun(spec)

    def render(self, messages: Messages) -> str:
        # the endpoint applies its own chat template; this transcript is only for display/counting
        return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"

    def prompt_ids(self, messages: Messages) -> list[int]:
        """Placeholder ids of the estimated prompt length (4 tokens of template per message)."""
        # an assistant message that only called tools has content None
        return [0] * sum(_estimate(m.get("content") or "") + 4 for m in messages)

    def tokenize(self, text: str, *, special: bool = False) -> list[int]:
        return [0] * _estimate(text) if text else []

    def count_tokens(self, text: str) -> int:
        return _estimate(text) if text else 0

    def fim_ids(self, prefix: str, suffix: str) -> list[int] | None:
        return None

    def submit(self, req: GenRequest) -> GenRequest:
        if self._inflight >= self.max_queue:
            raise Busy(f"{self._inflight} requests to '{self.model_id}' are in flight; retry shortly")
        if not self.endpoint.breaker.allow():
            raise self.endpoint.unavailable()
        with self._count_lock:
            self._inflight += 1
            self.requests += 1
        future = self.pool.run(self._run(req))
        # runs however the task ends, even when it is cancelled before it started
        future.add_done_callback(self._finished)
        req.on_cancel(future.cancel)
        return req

    def _finished(self, _future: Any) -> None:
        with self._count_lock:
            self._inflight -= 1

    def stats(self) -> dict[str, Any]:
        return {
            "active": self._inflight,
            "requests": self.requests,
            "failures": self.failures,
            "breaker": self.endpoint.breaker.state,
        }

    def close(self) -> None:
        """Nothing to free: in-flight requests end with their consumers."""

    # -- one request ----------------------------------------------------------------------------
    def _body(self, req: GenRequest) -> tuple[str, dict[str, Any]]:
        o = req.options
        body: dict[str, Any] = {
            "model": self.remote_model,
            "stream": True,
            "max_tokens": req.max_new_tokens,
            "temperature": o.temperature,
            "top_p": o.top_p,
            "stream_options": {"include_usage": True},
        }
        if o.seed is not None:
            body["seed"] = o.seed
        if o.stop:
            body["stop"] = list(o.stop)
        if o.top_k:
            body["top_k"] = o.top_k  # an extension that vLLM, llama.cpp and Ollama accept
        if o.repetition_penalty != 1.0:
            body["repetition_penalty"] = o.repetition_penalty
        if req.structured is not None:
            body.update(req.structured.spec.to_openai())
        if req.messages is not None:
            body["messages"] = req.messages
            return "/chat/completions", body
        body["prompt"] = req.prompt or ""
        return "/completions", body

    def _http_error(self, status: int, text: str) -> ChatExtError:
        detail = text.strip().replace("\n", " ")[:300] or "(empty body)"
        where = f"remote endpoint '{self.endpoint.name}'"
        if status == 404:
            return NotFound(
                f"{where} no longer serves model '{self.remote_model}' (HTTP 404: {detail})",
                code="model_not_found",
            )
        if status in (400, 422):
            return InvalidInput(
                f"{where} refused the request (HTTP {status}): {detail}", code="invalid_value"
            )
        if status == 429:
            return Busy(f"{where} is busy (HTTP 429); retry shortly")
        if status in (401, 403):
            return Unavailable(
                f"{where} refused our credentials (HTTP {status})", code="endpoint_unavailable"
            )
        return Unavailable(f"{where} answered HTTP {status}: {detail}", code="endpoint_unavailable")

    async def _open(self, req: GenRequest) -> Any:
        """Send the request (retrying connect errors); returns the entered stream response."""
        import httpx

        path, body = self._body(req)
        url = self.endpoint.config.base_url + path
        timeout = httpx.Timeout(self.endpoint.config.timeout_s, connect=CONNECT_TIMEOUT_S)
        client = self.pool.client()
        for attempt in range(CONNECT_RETRIES + 1):
            cm = client.stream(
                "POST", url, json=body, headers=self.endpoint.config.headers(), timeout=timeout
            )
            try:
                resp = await cm.__aenter__()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == CONNECT_RETRIES:
                    self.endpoint.breaker.failure(f"cannot connect ({type(exc).__name__})")
                    raise _Upstream(self.endpoint.unavailable()) from None
                await asyncio.sleep(RETRY_BASE_S * 2**attempt)
                continue
            except httpx.TimeoutException:
                self.endpoint.breaker.failure("timed out")
                where = f"remote endpoint '{self.endpoint.name}'"
                raise _Upstream(
                    Unavailable(
                        f"{where} sent no answer within {self.endpoint.config.timeout_s:g} s",
                        code="endpoint_unavailable",
                    )
                ) from None
            if resp.status_code != 200:
                text = (await resp.aread()).decode("utf-8", "replace")
                await cm.__aexit__(None, None, None)
                if resp.status_code >= 500:
                    self.endpoint.breaker.failure(f"HTTP {resp.status_code}")
                raise _Upstream(self._http_error(resp.status_code, text))
            self.endpoint.breaker.success()
            return cm, resp
        raise AssertionError("unreachable")  # pragma: no cover

    async def _run(self, req: GenRequest) -> None:
        import httpx
        from httpx_sse import EventSource, SSEError

        text, chunks, usage, finish = "", 0, None, "stop"
        calls: dict[int, dict[str, Any]] = {}  # streamed tool calls by index, arguments concatenated
        t_first: float | None = None
        emit = req.sink
        where = f"remote endpoint '{self.endpoint.name}'"
        try:
            cm, resp = await self._open(req)
            try:
                ctype = resp.headers.get("content-type", "")
                if "text/event-stream" not in ctype:
                    raw = (await resp.aread()).decode("utf-8", "replace")
                    raise _Upstream(
                        Unavailable(
                            f"{where} answered {ctype or 'no content type'} instead of an event "
                            f"stream: {raw.strip()[:200]!r}",
                            code="endpoint_unavailable",
                        )
                    )
                async for sse in EventSource(resp).aiter_sse():
                    if sse.data.strip() == "[DONE]":
                        break
                    try:
                        chunk = json.loads(sse.data)
                    except ValueError:
                        raise _Upstream(
                            Unavailable(
                                f"{where} sent a non-JSON event: {sse.data[:200]!r}",
                                code="endpoint_unavailable",
                            )
                        ) from None
                    if not isinstance(chunk, dict):
                        continue
                    if chunk.get("error"):
                        err = chunk["error"]
                        msg = err.get("message") if isinstance(err, dict) else str(err)
                        raise _Upstream(Unavailable(f"{where} failed: {msg}", code="endpoint_unavailable"))
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        piece = delta.get("content") if isinstance(delta, dict) else None
                        if piece is None:
                            piece = choice.get("text")
                        if piece:
                            t_first = t_first or time.perf_counter()
                            text += piece
                            chunks += 1
                            emit({"type": "token", "text": piece})
                        if isinstance(delta, dict) and delta.get("tool_calls"):
                            t_first = t_first or time.perf_counter()
                            chunks += 1
                            _merge_tool_calls(calls, delta["tool_calls"])
                        if choice.get("finish_reason"):
                            reason = choice["finish_reason"]
                            finish = reason if reason in ("length", "tool_calls") else "stop"
            finally:
                await cm.__aexit__(None, None, None)
        except asyncio.CancelledError:
            emit(self._done(req, "cancelled", text, chunks, usage, t_first))
            raise
        except _Upstream as exc:
            self.failures += 1
            emit(error_event(exc.error) | {"text": text})
            return
        except (httpx.HTTPError, SSEError) as exc:
            self.failures += 1
            if isinstance(exc, httpx.TimeoutException):
                why = f"sent nothing for {self.endpoint.config.timeout_s:g} s"
            else:
                why = f"broke off the stream ({type(exc).__name__})"
            self.endpoint.breaker.failure(why)
            error = Unavailable(f"{where} {why} after {chunks} tokens", code="endpoint_unavailable")
            emit(error_event(error) | {"text": text})
            return
        except Exception as exc:
            # error event too: uncaught here, the request's consumer waited forever for its end
            self.failures += 1
            while isinstance(getattr(exc, "exceptions", None), tuple) and exc.exceptions:  # a group
                exc = exc.exceptions[0]  # the first cause says more than "errors in a TaskGroup"
            why = f"failed ({type(exc).__name__}: {str(exc)[:200]})"
            self.endpoint.breaker.failure(why)
            log.warning("jupyter_chat_ext: %s %s", where, why)
            error = Unavailable(f"{where} {why} after {chunks} tokens", code="endpoint_unavailable")
            emit(error_event(error) | {"text": text})
            return
        done = self._done(req, finish, text, chunks, usage, t_first)
        if calls:
            done.update(finish_reason="tool_calls", tool_calls=[calls[i] for i in sorted(calls)])
        emit(done)

    def _done(
        self, req: GenRequest, reason: str, text: str, chunks: int, usage: Any, t_first: float | None
    ) -> dict[str, Any]:
        now = time.perf_counter()
        usage = usage if isinstance(usage, dict) else {}
        n = int(usage.get("completion_tokens") or chunks)
        t_first = t_first or now
        decode_s = now - t_first
        tps = (n - 1) / decode_s if n >= 2 and decode_s > 0 else n / max(now - req.t_submit, 1e-9)
        return {
            "type": "done",
            "finish_reason": reason,
            "text": text,
            "metrics": {
                "prompt_tokens": int(usage.get("prompt_tokens") or len(req.prompt_ids)),
                "completion_tokens": n,
                "ttft_s": round(t_first - req.t_submit, 6),
                "tokens_per_s": round(tps, 3),
                "total_s": round(now - req.t_submit, 6),
                "model": self.model_id,
                "device": self.device,
                "seed": req.options.seed,
            },
        }


def _merge_tool_calls(calls: dict[int, dict[str, Any]], deltas: Any) -> None:
    """OpenAI streams a call as pieces: id and name first, then arguments in fragments."""
    for d in deltas if isinstance(deltas, list) else []:
        if not isinstance(d, dict):
            continue
        index = d.get("index") if isinstance(d.get("index"), int) else len(calls)
        call = calls.setdefault(
            index, {"id": new_call_id(), "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if isinstance(d.get("id"), str) and d["id"]:
            call["id"] = d["id"]
        fn = d.get("function") if isinstance(d.get("function"), dict) else {}
        if isinstance(fn.get("name"), str):
            call["function"]["name"] += fn["name"]
        if isinstance(fn.get("arguments"), str):
            call["function"]["arguments"] += fn["arguments"]


class RemoteBackend:
    name = "remote"

    def __init__(self, pool: RemotePool | None) -> None:
        self.pool = pool

    def unavailable_reason(self) -> str | None:
        return None if self.pool is not None else "no remote endpoints are configured"

    def load(self, info: ModelInfo, settings: Any, progress: Progress) -> RemoteRuntime:
        if self.pool is None:
            raise Unavailable("no remote endpoints are configured", code="endpoint_unavailable")
        endpoint = self.pool.endpoints[str(info.extra.get("endpoint") or info.id.split("/", 1)[0])]
        progress(1.0, "remote")
        return RemoteRuntime(info, endpoint, self.pool, settings)
