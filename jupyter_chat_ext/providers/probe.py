"""The "Test" of a provider: list its models, then stream a short answer and time the first token.

What Notebook Intelligence's "Test the endpoint" does: two real requests, so a wrong base URL, a
refused key, a server that cannot list models (``transformers serve`` answers 500 there) or a
model that does not answer each show as themselves. Runs on a worker thread (blocking httpx).
The key only travels in the Authorization header; any text the endpoint sends back is scrubbed
of it before it is shown (a server may echo a bad key in its error).
"""

from __future__ import annotations

import json
import time
from typing import Any

PROMPT = "Reply with one short friendly sentence."
#: a test answer is a handful of tokens: enough to see the stream and the time to first token
MAX_TOKENS = 16
CONNECT_TIMEOUT_S = 3.0


def _scrub(text: str, key: str | None) -> str:
    text = text[:300]
    return text.replace(key, "***") if key else text


def _upstream_error(resp: Any, key: str | None) -> str:
    try:
        body = resp.json()
        err = body.get("error") if isinstance(body, dict) else None
        msg = err.get("message") if isinstance(err, dict) else err if isinstance(err, str) else None
    except ValueError:
        msg = None
    msg = msg or resp.text or resp.reason_phrase
    return f"HTTP {resp.status_code}: {_scrub(str(msg), key)}"


def list_models(
    client: Any, base_url: str, headers: dict[str, str], key: str | None
) -> tuple[list[str], str | None]:

    try:
        resp = client.get(f"{base_url}/models", headers=headers)
    except Exception as exc:  # httpx.HTTPError, and InvalidURL / OSError, which are not one
        return [], f"{type(exc).__name__}: cannot reach {base_url}"
    if resp.status_code != 200:
        return [], _upstream_error(resp, key)
    try:
        data = resp.json().get("data")
    except (ValueError, AttributeError):
        data = None
    if not isinstance(data, list):
        return [], "GET /models answered without a model list"
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")], None


def stream_answer(
    client: Any, base_url: str, headers: dict[str, str], model: str, key: str | None
) -> dict[str, Any]:
    """POST /chat/completions (stream): {answer, ttft_s, total_s, error}."""

    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": True,
    }
    t0 = time.perf_counter()
    ttft: float | None = None
    parts: list[str] = []
    try:
        with client.stream("POST", f"{base_url}/chat/completions", json=body, headers=headers) as resp:
            if resp.status_code != 200:
                resp.read()
                return {"answer": "", "ttft_s": None, "total_s": None, "error": _upstream_error(resp, key)}
            for line in resp.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    event = json.loads(data)
                    choice = (event.get("choices") or [{}])[0]
                    text = (choice.get("delta") or {}).get("content") or ""
                except (ValueError, AttributeError, IndexError, TypeError):
                    continue
                if text:
                    if ttft is None:
                        ttft = time.perf_counter() - t0
                    parts.append(text)
    except Exception as exc:  # httpx.HTTPError, and what is not one (InvalidURL, OSError)
        return {
            "answer": "".join(parts),
            "ttft_s": ttft,
            "total_s": None,
            "error": f"{type(exc).__name__} while streaming",
        }
    answer = _scrub("".join(parts), key)
    error = None if parts else "the stream ended without any text"
    total = time.perf_counter() - t0
    return {
        "answer": answer,
        "ttft_s": round(ttft, 3) if ttft is not None else None,
        "total_s": round(total, 3),
        "error": error,
    }


def probe(
    base_url: str,
    key: str | None,
    *,
    model: str | None = None,
    models: list[str] | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """List the endpoint's models and stream a short answer from ``model`` (default: the first)."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    timeout = httpx.Timeout(min(timeout_s, 60.0), connect=CONNECT_TIMEOUT_S)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        listed, models_error = list_models(client, base_url, headers, key)
        known = listed or list(models or [])
        chosen = model or (known[0] if known else None)
        result: dict[str, Any] = {
            "base_url": base_url,
            "models": listed,
            "models_error": models_error,
            "model": chosen,
        }
        if chosen is None:
            result.update(
                answer="",
                ttft_s=None,
                total_s=None,
                error="no model to ask: the endpoint listed none and none is configured",
            )
        elif models_error and models_error.startswith(("ConnectError", "ConnectTimeout")):
            result.update(answer="", ttft_s=None, total_s=None, error=models_error)
        else:
            result.update(stream_answer(client, base_url, headers, chosen, key))
    result["ok"] = result["error"] is None
    return result
