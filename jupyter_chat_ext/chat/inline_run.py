"""One inline completion against the engine: budget, FIM or prefix continuation, clean stream.

``inline_events`` is a lazy async generator of ``{"type": "token", "text"}`` events (clean ghost
text, see :class:`~.inline.InlineCleaner`) ending with one ``{"type": "done", "text",
"finish_reason", "metrics"}``. Closing it (the editor typed on, the HTTP client went away) closes
the engine stream, which cancels the engine request before its next decode step. Stopping at
``max_lines`` closes it too: the engine never decodes past what the editor will show.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .inline import Fitted, InlineRequest, fit_budget
from .inline_clean import InlineCleaner

if TYPE_CHECKING:
    from ..engine.engine import Engine

#: prompt tokens for prefix + suffix: a cursor's neighbourhood (~1-1.5k characters of code), short
#: enough that the first ghost token comes quickly on a laptop CPU (prompt evaluation dominates)
DEFAULT_BUDGET_TOKENS = 512
#: tokens generated per requested line (a line of code is rarely longer), and the cap
TOKENS_PER_LINE = 32
MAX_NEW_TOKENS = 256


def _done(text: str, finish_reason: str, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "done", "text": text, "finish_reason": finish_reason, "metrics": metrics, **extra}


async def inline_events(
    engine: Engine, req: InlineRequest, *, budget_tokens: int = DEFAULT_BUDGET_TOKENS
) -> AsyncIterator[dict[str, Any]]:
    started = time.perf_counter()
    if req.skip_reason is not None:  # no model call (and no model load) at all
        yield _done("", "skipped", {"total_s": 0.0}, reason=req.skip_reason)
        return
    model = await engine.ensure_loaded(req.model)
    max_new = min(MAX_NEW_TOKENS, TOKENS_PER_LINE * req.max_lines)

    def plan() -> tuple[bool, Fitted]:
        fim = bool(engine.capabilities(model).get("fim"))
        budget = max(16, min(budget_tokens, engine.context_length(model) - max_new - 8))

        def count(text: str) -> int:
            return int(engine.count_tokens(model, text))

        return fim, fit_budget(req.prefix, req.suffix, budget, count, use_suffix=fim)

    fim, fitted = await asyncio.to_thread(plan)  # tokenizing a 40k-char prefix: off the loop
    info: dict[str, Any] = {
        "model": model,
        "fim": fim,
        "prefix_tokens": fitted.prefix_tokens,
        "suffix_tokens": fitted.suffix_tokens,
        "dropped_prefix_chars": fitted.dropped_prefix_chars,
        "dropped_suffix_chars": fitted.dropped_suffix_chars,
    }
    if not fitted.prefix.strip() and not (fim and fitted.suffix.strip()):
        info["total_s"] = round(time.perf_counter() - started, 4)
        yield _done("", "skipped", info, reason="no prefix to continue (the model has no FIM tokens)")
        return

    if req.warm:  # evaluate the prompt into the engine's prompt cache; nothing to show
        event = await _warm(engine, model, fitted, fim)
        if event.get("type") == "error":
            yield event
        else:
            yield _done("", "warm", {**(event.get("metrics") or {}), **info, "total_s": _since(started)})
        return
    options = {"max_tokens": max_new, "temperature": 0.0}  # greedy: the same context, the same hint
    stream = engine.stream_text(model, fitted.prefix, options, suffix=fitted.suffix if fim else None)
    cleaner = InlineCleaner(req.suffix, req.max_lines)
    engine_done: dict[str, Any] = {}
    first_token_s: float | None = None
    try:
        async for event in stream:
            kind = event.get("type")
            if kind == "token":
                delta = cleaner.feed(str(event.get("text", "")))
                if delta:
                    if first_token_s is None:
                        first_token_s = time.perf_counter() - started
                    yield {"type": "token", "text": delta}
                if cleaner.done:
                    break  # the finally below cancels the engine request
            elif kind == "done":
                engine_done = event
            elif kind == "error":
                yield event
                return
    finally:
        await stream.aclose()
    text = cleaner.finish()
    metrics = {**(engine_done.get("metrics") or {}), **info}
    metrics["ttft_s"] = round(first_token_s, 4) if first_token_s is not None else None
    metrics["total_s"] = round(time.perf_counter() - started, 4)
    reason = cleaner.reason or str(engine_done.get("finish_reason") or "stop")
    yield _done(text, reason, metrics)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 4)


async def _warm(engine: Engine, model: str, fitted: Fitted, fim: bool) -> dict[str, Any]:
    """Run the prompt with one new token (the least an engine request decodes) and drop the token;
    returns the engine's last event. The llama.cpp slots keep the evaluated prompt, so the next
    request that starts with the same text evaluates only what was typed since (bench/
    bench_completion.py --modes focus)."""
    stream = engine.stream_text(
        model, fitted.prefix, {"max_tokens": 1, "temperature": 0.0}, suffix=fitted.suffix if fim else None
    )
    last: dict[str, Any] = {}
    try:
        async for event in stream:
            last = event
    finally:
        await stream.aclose()
    return last
