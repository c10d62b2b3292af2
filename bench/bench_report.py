"""The papermill report: first run vs a cached re-run with the same parameters.

Runs ``notebooks/report.ipynb`` twice with ``use_cache=True`` over one fresh data dir (in-process
mode, as papermill runs without a server) and reports, as JSON:

- ``total_s``: the whole papermill run (kernel start, imports, answering, plot);
- ``answer_cell_s``: the cell that answers the questions (papermill's per-cell duration);
- the cached / first ratios of both. Goal: the cached answer step <= 10 % of the first run.

    .venv/bin/python bench/bench_report.py [--questions 3] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import nbformat
import papermill

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "notebooks" / "report.ipynb"
QUESTIONS = [
    "What is a Jupyter notebook?",
    "Name one use of a vector database.",
    "What does a CPU do?",
    "Why is the sky blue?",
    "What is Python used for?",
]


def answer_cell_duration(nb: nbformat.NotebookNode) -> float:
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("answers = answer_questions("):
            return float(cell.metadata["papermill"]["duration"])
    raise LookupError("the answering cell was not found")


def run(out: Path, params: dict) -> tuple[float, float, list[dict]]:
    t0 = time.perf_counter()
    papermill.execute_notebook(
        str(REPORT),
        str(out),
        parameters=params,
        progress_bar=False,
        kernel_name="python3",
        cwd=str(out.parent),
    )
    total = time.perf_counter() - t0
    nb = nbformat.read(out, as_version=4)
    return total, answer_cell_duration(nb), json.loads(Path(params["output_json"]).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp_name:
        tmp = Path(tmp_name)
        os.environ.update(
            {
                "JUPYTER_CHAT_EXT_MODE": "local",
                "JUPYTER_CHAT_EXT_DATA_DIR": str(tmp / "data"),
                "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
                "JUPYTER_CHAT_EXT_MODEL_CACHE": os.environ.get(
                    "JUPYTER_CHAT_EXT_MODEL_CACHE", str(REPO / ".cache" / "models")
                ),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
            }
        )
        base = {
            "questions": QUESTIONS[: args.questions],
            "max_tokens": args.max_tokens,
            "seed": 0,
            "use_cache": True,
        }
        first_total, first_cell, first = run(
            tmp / "first.ipynb", {**base, "output_json": str(tmp / "first.json")}
        )
        again_total, again_cell, again = run(
            tmp / "again.ipynb", {**base, "output_json": str(tmp / "again.json")}
        )

    same = [a["answer"] for a in first] == [a["answer"] for a in again]
    print(
        json.dumps(
            {
                "benchmark": "report_first_vs_cached",
                "questions": args.questions,
                "max_tokens": args.max_tokens,
                "first": {"total_s": round(first_total, 3), "answer_cell_s": round(first_cell, 3)},
                "cached": {"total_s": round(again_total, 3), "answer_cell_s": round(again_cell, 3)},
                "ratio_answer_cell": round(again_cell / first_cell, 4),
                "ratio_total": round(again_total / first_total, 4),
                "goal_answer_cell_le_10pct": again_cell <= 0.10 * first_cell,
                "cached_hits": sum(bool(a["cached"]) for a in again),
                "identical_answers": same,
                "tokens_generated_first_run": sum(
                    int(a["metrics"].get("completion_tokens") or 0) for a in first
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
