"""``bench_backends.py --shape NAME [--quant Q]``: ours vs llama-server on a random-weight GGUF of a
real model's shape (bench/shapes.py builds and caches it), and what a run measured.

The JSON of a shape run names the shape, its encoding, the file (path and size) both servers loaded,
our KV layout (the options given and this tree's Settings defaults, since the default layout is
under work) and the load average around the run (bench_backends.py records it for every run).

Baseline ("before" the default-layout work of issue 21 item 6: the package of commit 89db910 via
``PYTHONPATH``, whose default is the unified pool), 2026-12-06 under the CPU lock, load ~1.9-2.1
(the bench's own two cores), ``--n-threads 2 --rounds 2``, 64 tokens, ours / llama-server
``-np 8 -c 8192 -t 2`` tok/s at 1 / 4 / 8 chats, same run (wall time of the run):
  smollm2-1.7b Q4_K_M unified 24.9/32.4/32.3 vs 24.8/33.8/35.1 = 1.00 / 0.96 / 0.92 (113 s)
                      split   28.6/34.0/30.8 vs 30.4/33.8/34.8 = 0.94 / 1.01 / 0.89 (118 s);
                              rerun 26.9/31.3/33.7 vs 28.6/32.9/35.1 = 0.94 / 0.95 / 0.96 (111 s)
  qwen2.5-1.5b Q4_K_M unified 0.98 / 1.00 / 0.96, split 0.97 / 0.96 / 0.95 (111 s each)
  smollm2-360m Q8_0   unified 0.98-1.00 / 0.94-0.95 / 0.89-0.92 (two runs, 39 s each)
                      split   1.00 / 0.91 / 0.93 (39 s)
An earlier 1.7B unified run gave 0.53 / 0.67 / 0.96 (ours 118 vs 67 CPU ms a token at 1 chat),
a 360M split run 1.53 / 1.04 / 0.64 with both servers' CPU ms a token inflated: single runs on a
shared machine are fragile; trust a figure that a second run repeats.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shapes import SHAPES, gguf

#: the encodings a shape is benched in (F16 is the converter's output, kept to quantize from)
QUANTS = ("Q4_K_M", "Q8_0", "F16")
#: Settings fields that decide our llama.cpp KV layout and its size
_LAYOUT_FIELDS = ("max_batch_size", "context_budget", "n_threads")


def add_shape_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--shape",
        choices=sorted(SHAPES),
        default=None,
        help="a random-weight GGUF of a real model's shape (bench/shapes.py), built and cached under "
        ".cache/shapes on first use: ours vs llama-server on that file only",
    )
    ap.add_argument("--quant", default="Q4_K_M", choices=QUANTS, help="the shape's encoding")


def _git(tree: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def our_layout(server_args: Sequence[str]) -> dict[str, Any]:
    """Our server's KV layout in a run: the ``--ChatExtApp.*`` options given over this tree's
    Settings defaults (every field with "kv" in its name), where the package was imported from
    (``PYTHONPATH`` may name another tree, e.g. a ``git archive`` of an older commit) and, when that
    is a git work tree, its commit and whether the engine had uncommitted changes."""
    import jupyter_chat_ext
    from jupyter_chat_ext.settings import Settings

    defaults = Settings()
    settings = {
        f.name: getattr(defaults, f.name)
        for f in dataclasses.fields(defaults)
        if "kv" in f.name or f.name in _LAYOUT_FIELDS
    }
    given = {}
    for arg in server_args:
        key, _, value = arg.removeprefix("--ChatExtApp.").partition("=")
        if key in settings:
            given[key] = value
    # an explicit kv_unified names the layout; else kv_layout (where the tree has it) or the default
    chosen = {**settings, **given}
    unified = str(chosen.get("kv_unified", True)).lower() not in ("false", "0")
    by_flag = "unified" if unified else "split"
    layout = given.get("kv_layout") or (by_flag if "kv_unified" in given else None)
    tree = Path(jupyter_chat_ext.__file__).resolve().parents[1]
    out = {
        "layout": layout or chosen.get("kv_layout") or by_flag,
        "given": given,
        "defaults": settings,
        "package": str(tree),
    }
    if (tree / ".git").exists():
        out["commit"] = _git(tree, "rev-parse", "--short", "HEAD")
        engine = ("jupyter_chat_ext/engine", "jupyter_chat_ext/settings.py")
        out["engine_uncommitted"] = bool(_git(tree, "status", "--porcelain", "--", *engine))
    return out


def describe(shape: str, quant: str, weights: Path) -> dict[str, Any]:
    arch, fields = SHAPES[shape]
    return {
        "name": shape,
        "quant": quant,
        "file": weights.name,
        "path": str(weights),
        "mib": round(weights.stat().st_size / 2**20, 1),
        "arch": arch,
        "config": fields,
    }


def bench_shape(
    args: argparse.Namespace,
    tmp: Path,
    levels: list[int],
    anchor: Path | None,
    through_server: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """``{"shape": ..., "llamacpp": ...}``: our llama.cpp backend serving the shape's file, and
    (with ``anchor``, a llama-server binary) llama-server on the same file in the same run."""
    weights = gguf(args.shape, args.quant)
    model = weights.stem.lower()
    server_args = (
        f"--ChatExtApp.model_dirs={json.dumps([str(weights.parent)])}",
        f"--ChatExtApp.default_model={model}",
        *args.server_arg,
    )
    measured = through_server(
        "llamacpp", tmp, args.tokens, args.rounds, levels, args.n_threads, anchor, weights,
        server_args, args.anchor_kv, model,
    )  # fmt: skip
    print(json.dumps({"llamacpp": measured}), file=sys.stderr, flush=True)  # before the summary
    return {"shape": describe(args.shape, args.quant, weights), "llamacpp": measured}
