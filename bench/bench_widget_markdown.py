"""Cost of rendering a streamed answer's markdown tree (ChatWidget re-renders it every update).

Prints JSON: milliseconds per ``markdown_tree`` call (median of N) for answers of a few sizes, and
what a whole streamed 2,000-character answer costs when its tree is rebuilt at every display update
(one rebuild per 8 characters, a pessimistic rate): re-parsing everything each time
(``markdown_tree``) vs. only the unfinished tail (``StreamingMarkdown``, what the widget does).
Run: ``.venv/bin/python bench/bench_widget_markdown.py [--quick]``
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from jupyter_chat_ext.widgets.markdown import StreamingMarkdown, markdown_tree

PARAGRAPH = (
    "Here is **how** to do it with `pandas`: read the file, then [group](https://pandas.pydata.org) "
    "the rows.\n\n- first step\n- second step\n\n```python\ndf.groupby('a').sum()\n```\n\n"
)


def median_ms(text: str, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        markdown_tree(text)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    quick = "--quick" in sys.argv
    n = 5 if quick else 25
    sizes = {}
    for chars in (500, 2000, 8000):
        text = (PARAGRAPH * (chars // len(PARAGRAPH) + 1))[:chars]
        sizes[str(chars)] = round(median_ms(text, n), 3)
    answer = (PARAGRAPH * 10)[:2000]
    ends = range(8, len(answer) + 1, 8)
    t0 = time.perf_counter()
    for end in ends:
        markdown_tree(answer[:end])
    whole = time.perf_counter() - t0
    streaming = StreamingMarkdown()
    t0 = time.perf_counter()
    for end in ends:
        streaming.tree(answer[:end])
    tail_only = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "bench": "widget_markdown",
                "ms_per_tree_by_chars": sizes,
                "stream_2000_chars_full_reparse_s": round(whole, 3),
                "stream_2000_chars_tail_reparse_s": round(tail_only, 3),
                "speedup": round(whole / tail_only, 1),
                "rebuilds": len(ends),
            }
        )
    )


if __name__ == "__main__":
    main()
