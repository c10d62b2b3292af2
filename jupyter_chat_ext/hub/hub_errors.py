"""The Hub's failures as our typed errors, and the ``HfApi`` every hub call uses.

``huggingface_hub`` reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE`` once, at import; the server may
have imported it long before a user set a mirror, and tests point it at a stand-in. So each call
reads the environment again and passes ``endpoint=`` and ``token=`` explicitly.

- offline (``HF_HUB_OFFLINE=1``), no network, DNS failure, timeout -> Unavailable ``hub_unreachable`` (503)
- unknown repo -> NotFound ``repo_not_found``; unknown revision ``revision_not_found``; file
  ``file_not_found`` (404)
- gated or private without a (good) token -> Forbidden ``gated_repo`` (403), naming ``HF_TOKEN``
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import ChatExtError, Forbidden, NotFound, Unavailable

T = TypeVar("T")
#: seconds one metadata request may take before the Hub counts as unreachable
TIMEOUT_S = 15.0


def hub_offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def hub_token() -> str | None:
    """``HF_TOKEN`` (or the older name), else the token ``hf auth login`` saved, else None."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token
    try:
        from huggingface_hub import get_token

        return get_token()
    except Exception:
        return None


def hf_api() -> Any:
    """An ``HfApi`` for the endpoint and token of this moment; Unavailable when offline mode is on."""
    if hub_offline():
        raise Unavailable(
            "the Hugging Face Hub is off: HF_HUB_OFFLINE is set (unset it, or set HF_ENDPOINT to a mirror)",
            code="hub_unreachable",
        )
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_endpoint(), token=hub_token() or False)


def translate(exc: BaseException, repo: str | None = None, file: str | None = None) -> ChatExtError:
    """The typed error for an exception raised by ``huggingface_hub`` (or by the network below it)."""
    from huggingface_hub import errors as hf

    what = repo or "the repository"
    if isinstance(exc, ChatExtError):
        return exc
    if isinstance(exc, hf.OfflineModeIsEnabled):
        return Unavailable(
            "the Hugging Face Hub is off: HF_HUB_OFFLINE is set (unset it, or set HF_ENDPOINT to a mirror)",
            code="hub_unreachable",
        )
    if isinstance(exc, hf.GatedRepoError):
        return Forbidden(
            f"{what} is gated: accept its licence on the Hub, then set HF_TOKEN (a token of that account) "
            "in the environment of the Jupyter server",
            code="gated_repo",
        )
    if isinstance(exc, hf.RepositoryNotFoundError):  # also what the Hub says for a private repo
        return NotFound(
            f"no repository {what} on {hub_endpoint()} (if it is private, set HF_TOKEN)",
            code="repo_not_found",
        )
    if isinstance(exc, hf.RevisionNotFoundError):
        return NotFound(f"{what} has no such revision", code="revision_not_found")
    if isinstance(exc, hf.EntryNotFoundError):
        return NotFound(f"{what} has no file {file!r}", code="file_not_found")
    if isinstance(exc, hf.HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return Forbidden(f"the Hub refused access to {what}: set HF_TOKEN", code="gated_repo")
        if status == 404:
            return NotFound(f"{what} not found on the Hub", code="repo_not_found")
        return Unavailable(f"the Hub answered {status} for {what}", code="hub_unreachable")
    if _network_error(exc):
        return Unavailable(
            f"cannot reach the Hugging Face Hub at {hub_endpoint()}: {type(exc).__name__}: {exc}"[:500],
            code="hub_unreachable",
        )
    return Unavailable(f"the Hub call failed: {type(exc).__name__}: {exc}"[:500], code="hub_unreachable")


def _network_error(exc: BaseException) -> bool:
    """A failure to reach the Hub at all (no route, DNS, refused, timeout, TLS)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    # huggingface_hub 2.x talks through httpx2 (a fork of httpx), 1.x through httpx: match both by
    # the transport error classes they share by name
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "TimeoutException", "NetworkError"}) or isinstance(exc, OSError)


def hub_call(
    fn: Callable[..., T], *args: Any, repo: str | None = None, file: str | None = None, **kw: Any
) -> T:
    """``fn(*args, **kw)`` with every Hub failure translated (blocking: call it off the event loop)."""
    try:
        return fn(*args, **kw)
    except ChatExtError:
        raise
    except Exception as exc:
        raise translate(exc, repo, file) from None
