"""pandas DataFrames for what the line commands show (models, sessions, messages, hits, SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd


def human_size(n: int | float | None) -> str:
    if not n:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover


def utc_times(values: Sequence[Any]) -> pd.Series:
    """Timestamps as one dtype, ``datetime64[ns, UTC]``, whatever the client handed over.

    The server sends ISO-8601 strings, the in-process store may give ``datetime`` objects (naive
    ones are UTC): a notebook comparing or plotting ``created_at`` must not care which mode ran.
    """

    def one(v: Any) -> pd.Timestamp:
        if v is None or v == "":
            return pd.NaT
        ts = pd.Timestamp(v)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")

    return pd.Series([one(v) for v in values], dtype="datetime64[ns, UTC]")


def models_frame(models: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "id": m.get("id"),
            "kind": m.get("kind"),
            "source": m.get("source"),
            "format": m.get("format"),
            "size": human_size(m.get("size_bytes")),
            "parameters": m.get("parameters"),
            "context": m.get("context_length"),
            "state": m.get("state"),
            "device": m.get("device"),
        }
        for m in models
    ]
    return pd.DataFrame(
        rows, columns=["id", "kind", "source", "format", "size", "parameters", "context", "state", "device"]
    )


def sessions_frame(sessions: Sequence[dict[str, Any]]) -> pd.DataFrame:
    columns = ["id", "title", "model", "message_count", "pinned", "updated_at"]
    frame = pd.DataFrame([{c: s.get(c) for c in columns} for s in sessions], columns=columns)
    frame["updated_at"] = utc_times([s.get("updated_at") for s in sessions])
    return frame


def messages_frame(messages: Sequence[dict[str, Any]]) -> pd.DataFrame:
    columns = [
        "id",
        "role",
        "content",
        "status",
        "model",
        "created_at",
        "completion_tokens",
        "tokens_per_s",
        "ttft_s",
        "branch",
    ]
    rows = []
    for m in messages:
        metrics = m.get("metrics") or {}
        branch = m.get("branch") or None  # an edited question: "2/3", the branch shown of three
        rows.append(
            {
                **{c: m.get(c) for c in columns[:6]},
                "completion_tokens": metrics.get("completion_tokens"),
                "tokens_per_s": metrics.get("tokens_per_s"),
                "ttft_s": metrics.get("ttft_s"),
                "branch": f"{branch['index']}/{branch['count']}" if branch else None,
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    frame["created_at"] = utc_times([m.get("created_at") for m in messages])
    return frame


def hits_frame(hits: Sequence[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for h in hits:
        loc = h.get("location") or {}
        where = ", ".join(f"{k} {v}" for k, v in loc.items()) if isinstance(loc, dict) else str(loc)
        rows.append(
            {"score": h.get("score"), "source": h.get("source"), "location": where, "text": h.get("text")}
        )
    return pd.DataFrame(rows, columns=["score", "source", "location", "text"])


def sql_frame(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    return pd.DataFrame([list(r) for r in rows], columns=list(columns))
