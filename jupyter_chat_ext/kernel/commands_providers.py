"""``%chat provider add|list|edit|remove|test``: OpenAI-compatible providers from a notebook.

The same providers as the sidebar's Providers section: over HTTP when the kernel found the Jupyter
server (``/chat-ext/providers``), else the in-process core's ``ProviderService``. A key is never
typed into a cell (it would be saved in the notebook): ``--key`` asks for it with ``getpass``, or
``--key-env VAR`` names an environment variable of the server that holds it.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any
from urllib.parse import quote

import pandas as pd
from IPython.core.error import UsageError

from .http_client import HttpClient

USAGE = (
    "%chat provider list\n"
    "%chat provider add NAME [BASE_URL] [--preset ollama|lmstudio|llama-server|vllm|openai] "
    "[--key | --key-env VAR] [--models a,b]\n"
    "%chat provider edit NAME [--base-url URL] [--key | --key-env VAR | --no-key] [--models a,b]\n"
    "%chat provider test NAME\n"
    "%chat provider remove NAME"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise UsageError(f"{message}\nusage:\n{USAGE}")


def _parser(action: str) -> argparse.ArgumentParser:
    p = _Parser(prog=f"%chat provider {action}", add_help=False)
    p.add_argument("name")
    if action == "add":
        p.add_argument("base_url", nargs="?")
        p.add_argument("--preset")
    if action == "edit":
        p.add_argument("--base-url")
        p.add_argument("--no-key", action="store_true", help="forget the key")
    if action in ("add", "edit"):
        key = p.add_mutually_exclusive_group()
        key.add_argument("--key", action="store_true", help="ask for the key (kept in the OS keyring)")
        key.add_argument("--key-env", metavar="VAR")
        p.add_argument("--models", help="comma-separated, for servers that cannot list theirs")
    return p


def _call(client: Any, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One providers route, over HTTP or on the in-process core (same shapes both ways)."""
    if isinstance(client, HttpClient):
        return client._json(method, f"providers{path}", **({"json": body} if body is not None else {}))
    service = getattr(getattr(client, "core", None), "providers", None)
    if service is None:
        raise UsageError(f"{type(client).__name__} has no providers")
    name = path.strip("/").split("/")[0] if path else ""
    if method == "GET":
        return service.list() if not name else service.get(name)
    if method == "POST" and not name:
        return service.add(body)
    if method == "POST":
        return service.test(name, body)
    if method == "PUT":
        return service.update(name, body)
    return service.remove(name)


def _body(args: argparse.Namespace, presets: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    url = getattr(args, "base_url", None)
    preset = getattr(args, "preset", None)
    if preset:
        known = {p["id"]: p for p in presets}
        if preset not in known:
            raise UsageError(f"unknown preset {preset!r}; presets: {', '.join(known)}")
        body["preset"] = preset
        url = url or known[preset]["base_url"]
    if url:
        body["base_url"] = url
    if args.key:
        key = getpass.getpass(f"API key for {args.name} (kept in the OS keyring): ")
        if not key:
            raise UsageError("no key given")
        body["api_key"] = key
    elif args.key_env:
        body["api_key_env"] = args.key_env
    if getattr(args, "no_key", False):
        body["clear_key"] = True
    if args.models is not None:
        body["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    return body


def providers_frame(providers: list[dict[str, Any]]) -> pd.DataFrame:
    cols = ["name", "base_url", "source", "key", "api_key_env", "key_set", "models"]
    return pd.DataFrame([{c: p.get(c) for c in cols} for p in providers], columns=cols)


def test_text(t: dict[str, Any]) -> str:
    lines = [f"{t.get('name')}: {'OK' if t.get('ok') else 'FAILED'} ({t.get('base_url')})"]
    if t.get("models_error"):
        lines.append(f"  list models: {t['models_error']}")
    else:
        lines.append(f"  models: {', '.join(t.get('models') or []) or '(none)'}")
    if t.get("model"):
        ttft = f", first token after {t['ttft_s'] * 1000:.0f} ms" if t.get("ttft_s") is not None else ""
        lines.append(f"  {t['model']} answered: {t.get('answer')!r}{ttft}")
    if t.get("error"):
        lines.append(f"  error: {t['error']}")
    return "\n".join(lines)


def cmd_provider(ctx: Any, v: dict[str, Any]) -> Any:
    action, words = v["action"], v.get("args") or []
    client = ctx.client
    if action == "list":
        listing = _call(client, "GET", "")
        kr = listing.get("keyring") or {}
        print(f"keyring: {kr.get('backend') or 'none'}. {kr.get('note', '')}")
        for problem in listing.get("problems") or []:
            print(f"problem: {problem}")
        return providers_frame(listing.get("providers") or [])
    if action not in ("add", "edit", "remove", "test"):
        raise UsageError(f"unknown provider action {action!r}\nusage:\n{USAGE}")
    args = _parser(action).parse_args(words)
    path = f"/{quote(args.name, safe='')}"
    if action == "remove":
        _call(client, "DELETE", path)
        print(f"removed provider {args.name}")
        return None
    if action == "test":
        print(test_text(_call(client, "POST", f"{path}/test", {})))
        return None
    presets = _call(client, "GET", "").get("presets") or [] if action == "add" else []
    body = _body(args, presets)
    if action == "add":
        if "base_url" not in body:
            raise UsageError(f"add needs a BASE_URL or a --preset\nusage:\n{USAGE}")
        saved = _call(client, "POST", "", {"name": args.name, **body})
    else:
        saved = _call(client, "PUT", path, body)
    name = saved["name"]
    print(f"{action}ed provider {name} ({saved['base_url']}, key: {saved['key']}); models: {name}/<model>")
    return None


PROVIDER_HANDLERS = {"provider": cmd_provider}
