"""Ingest throughput on a folder of >= 1,000 mixed files (issue 22: >= 45 chunks/s on 2 cores).

    .venv/bin/python bench/bench_rag_ingest.py                 # 1,000 files, JSON on stdout
    .venv/bin/python bench/bench_rag_ingest.py --files 200     # a quicker look
    .venv/bin/python bench/bench_rag_ingest.py --profile       # + cProfile's top functions
    nice -n 10 .venv/bin/python bench/bench_rag_ingest.py --compare --rounds 2
        # the same folder ingested by the embedder before issue 22 item 4's batching
        # (old_embedder.CharSortedEmbedder) and today's, in turn: the ratio under the same load
    .venv/bin/python bench/bench_rag_ingest.py --files 200 --large --compare
        # files of 8-20 KB, whose chunks fill the chunker's budget as long documents do

Idle machine (2 cores, 2026-12-06): 1,000 small files (2,651 chunks) 76.4-78.5 chunks/s today,
58.7-59.4 with the old batching, 51.8 with the code before issue 22 (14c4cda, this script copied
into a worktree, PYTHONPATH=<worktree>); --large, 200 files (4,824 chunks): 63.3-68.0 today, 55.8
old batching, 49.5 before issue 22.

The folder is generated from installed packages' own .py / .md / .txt / .rst files (sorted, so
the same venv gives the same folder; files over ``MAX_BYTES`` are left out so the run stays in
minutes) plus a few notebooks written with nbformat. It reports chunks/s of RagService.ingest
(files -> chunks -> vectors -> LanceDB -> FTS/ANN indexes), where the time went (chunking,
embedding, appends, index refresh) and the embedder's share.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from jupyter_chat_ext.engine.embeddings import Embedder
from jupyter_chat_ext.rag.service import RagService
from jupyter_chat_ext.settings import Settings

#: packages whose files make the folder (permissive licences; all are dependencies of the project)
PACKAGES = [
    "jupyter_server", "traitlets", "tornado", "nbformat", "jinja2", "httpx", "packaging", "attr",
    "pathspec", "markdown_it", "jupyter_core", "anyio", "lancedb", "duckdb", "pyarrow", "jsonschema",
    "transformers", "torch", "numpy", "pandas", "sympy", "jupyterlab", "ipykernel",
    "IPython", "pygments", "setuptools", "pip", "babel", "networkx",
]  # fmt: skip
SUFFIXES = {".py", ".md", ".txt", ".rst"}
MAX_BYTES = 2_500
MIN_BYTES = 200
#: ``--large``: files whose chunks fill the chunker's budget (~200 tokens), as long prose does
LARGE_BYTES = (8_000, 20_000)


def make_folder(
    dest: Path, files: int, notebooks: int = 10, *, sizes: tuple[int, int] = (MIN_BYTES, MAX_BYTES)
) -> dict[str, int]:
    """Copy ``files`` text/code files of installed packages, of ``sizes`` bytes, into ``dest``
    (+ notebooks). Small files (the default) make many short chunks; ``--large`` picks files whose
    chunks fill the chunker's budget, as long documents do."""
    lo, hi = sizes
    import nbformat

    picked: list[Path] = []
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*")):
            wanted = path.suffix in SUFFIXES and path.is_file() and "__pycache__" not in path.parts
            if wanted and lo <= path.stat().st_size <= hi:
                picked.append(path)
    if len(picked) < files:
        raise SystemExit(f"only {len(picked)} files of {lo}-{hi} bytes in {PACKAGES}")
    # spread the pick over every package rather than the first few
    step = max(1, len(picked) // max(1, files - notebooks))
    chosen = picked[::step][: files - notebooks]
    counts: dict[str, int] = {}
    for i, src in enumerate(chosen):
        out = dest / f"{i // 100:02d}" / f"{i:04d}_{src.name}"
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        counts[src.suffix] = counts.get(src.suffix, 0) + 1
    texts = [p.read_text(errors="replace") for p in chosen[:notebooks]]
    for i, text in enumerate(texts):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell(f"# Notebook {i}\n\nNotes on a module.")]
        nb.cells += [nbformat.v4.new_code_cell(block) for block in text.split("\n\n")[:12] if block.strip()]
        (dest / f"nb{i:02d}.ipynb").write_text(nbformat.writes(nb))
    counts[".ipynb"] = len(texts)
    return counts


class Timed:
    """Wraps a callable and sums its wall time (the share of each stage)."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.seconds, self.calls = fn, 0.0, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1


def run_ingest(folder: Path, work: Path, embedder: Any, *, profile: bool = False) -> dict[str, Any]:
    rag = RagService(Settings(data_dir=work), embedder)
    rag.create_collection("bench")
    stages = {
        "embed": (embedder, "embed"),
        "chunk": (rag.chunker, "chunk"),
        "append": (rag.index, "add"),
        "index_refresh": (rag.index, "refresh_indexes"),
    }
    timers = {}
    for name, (obj, attr) in stages.items():
        timers[name] = Timed(getattr(obj, attr))
        setattr(obj, attr, timers[name])
    prof = cProfile.Profile() if profile else None
    try:
        if prof:
            prof.enable()
        report = rag.ingest("bench", [folder], root=folder)
        if prof:
            prof.disable()
    finally:
        for obj, attr in stages.values():
            if attr in vars(obj):
                delattr(obj, attr)
        rag.close()
    out = {
        "files": report.files_total,
        "chunks": report.chunks,
        "skipped": len(report.skipped),
        "seconds": report.seconds,
        "chunks_per_s": round(report.chunks / report.seconds, 2),
        "stage_seconds": {k: round(t.seconds, 2) for k, t in timers.items()},
        "appends": timers["append"].calls,
    }
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(35)
        out["profile"] = buf.getvalue()
    return out


def compare(work: Path, embedder: Embedder, rounds: int) -> dict[str, Any]:
    """Old and new batching ingesting the same folder in turn, each into a fresh store."""
    sys.path.insert(0, str(Path(__file__).parent))
    from old_embedder import CharSortedEmbedder

    old = CharSortedEmbedder()
    old.embed(["warm up"])
    runs: dict[str, list[dict[str, Any]]] = {"old": [], "new": []}
    for i in range(rounds):
        for name, emb in (("old", old), ("new", embedder)):
            load = round(os.getloadavg()[0], 2)
            report = run_ingest(work / "folder", work / f"data-{name}-{i}", emb)
            runs[name].append({"chunks_per_s": report["chunks_per_s"], "load_average_1min": load})
    ratios = [n["chunks_per_s"] / o["chunks_per_s"] for o, n in zip(runs["old"], runs["new"], strict=True)]
    return {**runs, "speedup": [round(r, 2) for r in ratios]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--compare", action="store_true", help="also the embedder's old batching, in turn")
    ap.add_argument("--rounds", type=int, default=1, help="with --compare: old/new pairs")
    ap.add_argument("--quick", action="store_true", help="200 files, one round (make bench)")
    ap.add_argument(
        "--large",
        action="store_true",
        help=f"files of {LARGE_BYTES[0]}-{LARGE_BYTES[1]} bytes: full-length chunks",
    )
    args = ap.parse_args()
    if args.quick:
        args.files, args.rounds = 200, 1
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        counts = make_folder(
            work / "folder", args.files, sizes=LARGE_BYTES if args.large else (MIN_BYTES, MAX_BYTES)
        )
        embedder = Embedder()
        embedder.embed(["warm up"])
        result = {
            "bench": "rag_ingest",
            "code": str(Path(sys.modules[Embedder.__module__].__file__).parent.parent),
            "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            "folder": counts,
            "ingest": run_ingest(work / "folder", work / "data", embedder, profile=args.profile),
        }
        if args.compare:
            result["compare"] = compare(work, embedder, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    profile = result["ingest"].pop("profile", None)
    print(json.dumps(result, indent=1))
    if profile:
        print(profile, file=sys.stderr)


if __name__ == "__main__":
    main()
