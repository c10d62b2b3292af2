"""Helpers (no tests): real small files of each kind for the RAG tests.

PDFs are written with reportlab and DOCX with python-docx inside the tests: no binaries committed.
"""

from __future__ import annotations

import json
from pathlib import Path


def write_pdf(path: Path, pages: list[str]) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        y = 800
        for line in text.split("\n"):
            c.drawString(72, y, line)
            y -= 16
        c.showPage()
    c.save()
    return path


def write_docx(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    for heading, body in sections:
        d.add_heading(heading, level=2)
        d.add_paragraph(body)
    d.save(str(path))
    return path


def write_notebook(path: Path, cells: list[tuple[str, str]], outputs: dict[int, str] | None = None) -> Path:
    nb_cells = []
    for i, (kind, src) in enumerate(cells):
        cell = {"cell_type": kind, "metadata": {}, "source": src.splitlines(keepends=True)}
        if kind == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            if outputs and i in outputs:
                cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": [outputs[i]]}]
        nb_cells.append(cell)
    nb = {
        "cells": nb_cells,
        "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


MARKDOWN = """# Gardening guide

An introduction to growing vegetables at home.

## Tomatoes

Tomatoes need six hours of direct sun every day. Water them deeply twice a week.

## Compost

Compost turns kitchen scraps into rich soil over a few months.
"""

PYTHON = '''"""Geometry helpers."""

import math


def circle_area(radius):
    """Area of a circle."""
    return math.pi * radius ** 2


class Rectangle:
    def __init__(self, w, h):
        self.w = w
        self.h = h

    def area(self):
        return self.w * self.h
'''

HTML = """<html><head><title>Lighthouse history</title><script>var x = 1;</script></head>
<body><nav>menu</nav><h1>Lighthouses</h1><p>The Pharos of Alexandria was one of the seven wonders.</p>
<h2>Modern lights</h2><p>Fresnel lenses made lighthouse beams visible for twenty miles.</p></body></html>
"""
