"""The example notebooks run under nbval; the papermill report is reproducible and cacheable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"

QUESTIONS = ["What is the capital of Italy?", "Name a kind of tree."]


def test_example_notebooks_pass_nbval_lax(notebook_env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", str(NOTEBOOKS)],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, summary
    # every code cell of the three notebooks ran as a test item
    cells = sum(
        1
        for name in ("quickstart", "widgets_tour", "report")
        for c in nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4).cells
        if c.cell_type == "code"
    )
    assert f"{cells} passed" in result.stdout, summary


def run_report(tmp_path: Path, name: str, **params) -> tuple[nbformat.NotebookNode, list[dict]]:
    out_json = tmp_path / f"{name}.json"
    out_nb = tmp_path / f"{name}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "report.ipynb"),
        str(out_nb),
        parameters={"questions": QUESTIONS, "max_tokens": 24, "output_json": str(out_json), **params},
        cwd=str(tmp_path),
        progress_bar=False,
        kernel_name="python3",
    )
    return nbformat.read(out_nb, as_version=4), json.loads(out_json.read_text())


def outputs(nb: nbformat.NotebookNode, mime: str) -> list[str]:
    return [
        o["data"][mime]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") in ("display_data", "execute_result") and mime in o.get("data", {})
    ]


def test_report_twice_gives_identical_answers(notebook_env: dict[str, str], tmp_path: Path) -> None:
    nb1, first = run_report(tmp_path, "run1", seed=5)
    _, second = run_report(tmp_path, "run2", seed=5)
    assert [a["answer"] for a in first] == [a["answer"] for a in second]
    assert all(a["answer"].strip() for a in first)
    assert [a["question"] for a in first] == QUESTIONS
    for a in first:
        p = a["provenance"]
        assert p["model"] == "smollm2-135m-instruct"
        assert p["model_hash"].startswith("sha256:")
        assert p["seed"] == 5 and p["options"]["max_tokens"] == 24
        assert a["metrics"]["tokens_per_s"] > 0 and a["metrics"]["ttft_s"] > 0
    # the rendered report: answers, a metrics table and the plot
    markdown = "\n".join(outputs(nb1, "text/markdown"))
    assert all(a["answer"].strip()[:20] in markdown for a in first)
    assert "tokens_per_s" in "\n".join(outputs(nb1, "text/html"))
    assert outputs(nb1, "image/png"), "the metrics plot is missing"
    assert nb1.metadata["papermill"]["parameters"]["seed"] == 5


def test_report_cache_rerun_with_retrieval(notebook_env: dict[str, str], tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rome.md").write_text("# Italy\n\nRome is the capital of Italy and lies on the Tiber.\n")
    (docs / "oak.md").write_text("# Trees\n\nThe oak is a tree that grows acorns.\n")
    params = {"seed": 0, "use_cache": True, "collection": "report-docs", "documents": [str(docs)]}
    _, first = run_report(tmp_path, "cache1", **params)
    nb2, second = run_report(tmp_path, "cache2", **params)
    assert [a["cached"] for a in first] == [False, False]
    assert [a["cached"] for a in second] == [True, True]
    assert [a["answer"] for a in second] == [a["answer"] for a in first]
    assert first[0]["sources"][0]["source"].endswith("rome.md")
    assert second[0]["sources"] == first[0]["sources"]
    assert "2 from the cache" in "".join(
        o.get("text", "") for c in nb2.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
