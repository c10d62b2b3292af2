"""The catalog of recommended models (``catalog.json``) with fits, installed and a pick per role.

The pick for this machine (``suggest``), per role:
1. the largest entry (by parameters) whose verdict is "gpu": on a GPU the model that fits runs
   fast enough, so bigger is better;
2. else the largest "cpu" entry that leaves headroom and stays responsive on a CPU: it needs at
   most half the available RAM (the notebook's own data and the kernel keep the rest) and its
   weights are at most ``CPU_WEIGHTS_CAP[role]`` bytes. Decode on a CPU is bound by memory
   bandwidth: every token reads all the weights, and the ~10 GB/s measured on this project's
   2-core machines gives ~4-5 tokens/s for 2.2 GB of weights (a 3B model at Q4_K_M), the slowest
   we call a usable chat; inline completion must answer while the user pauses, so its cap is a
   1.5B-Q4 / 0.5B-Q8 model; embedding and reranking run over many chunks, so they stay small;
3. else nothing (None): the packaged model stays the default.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from .fits import DEFAULT_CONTEXT, fits

CATALOG_PATH = Path(__file__).with_name("catalog.json")
ROLES = ("chat", "code", "embedding", "rerank")
CPU_WEIGHTS_CAP = {
    "chat": 2_200_000_000,
    "code": 1_200_000_000,
    "embedding": 300_000_000,
    "rerank": 600_000_000,
}
CPU_RAM_SHARE = 0.5


@lru_cache(maxsize=1)
def load_catalog(path: str | None = None) -> tuple[dict[str, Any], ...]:
    """The catalog's entries as read from the package (read once)."""
    data = json.loads(Path(path or CATALOG_PATH).read_text(encoding="utf-8"))
    return tuple(data["entries"])


def suggest(entries: list[dict[str, Any]], hardware: dict[str, Any]) -> dict[str, str | None]:
    """The id of the pick per role for this machine (the rule is in the module docstring)."""
    ram = int((hardware.get("ram") or {}).get("available_bytes") or 0)
    picks: dict[str, str | None] = {}
    for role in ROLES:
        mine = [e for e in entries if e["role"] == role]
        on_gpu = [e for e in mine if e["fits"]["verdict"] == "gpu"]
        on_cpu = [
            e
            for e in mine
            if e["fits"]["verdict"] in ("gpu", "cpu")
            and e["fits"]["needed_bytes"] <= ram * CPU_RAM_SHARE
            and e["size_bytes"] <= CPU_WEIGHTS_CAP[role]
        ]
        pool = on_gpu or on_cpu
        best = max(pool, key=lambda e: (e["parameters"], e["size_bytes"]), default=None)
        picks[role] = best["id"] if best else None
    return picks


def catalog_view(
    hardware: dict[str, Any],
    installed: Callable[[str, str | None], str | None],
    *,
    entries: tuple[dict[str, Any], ...] | None = None,
) -> dict[str, Any]:
    """The GET /catalog answer: entries with ``fits``, ``installed``, ``model_id``; ``suggested``.

    ``installed(repo, file)`` -> the registry id of a pulled model of that file, or None.
    """
    out = []
    for entry in entries if entries is not None else load_catalog():
        model_id = installed(entry["repo"], entry.get("file"))
        out.append(
            {
                **entry,
                "fits": fits(
                    entry["size_bytes"],
                    hardware,
                    parameters=entry["parameters"],
                    context=min(DEFAULT_CONTEXT, int(entry.get("context_length") or DEFAULT_CONTEXT)),
                ),
                "installed": model_id is not None,
                "model_id": model_id,
            }
        )
    return {"entries": out, "suggested": suggest(out, hardware), "hardware": hardware}
