"""Store durability figures (issue 12) for bench_store.py: what streaming, importing and the SQL
door cost the writes a user waits on.

``checkpoint_cost``: µs per checkpoint of a streaming answer; ``import_bulk``: an import of a
large export (seconds, the store-lock hold, add_message latency from another thread meanwhile);
``writes_during_slow_query``: add_message latency (p50/p99) alone and while a long SQL query runs on
the SQL door. ``durability`` runs all three (``bench_store.py --durability-only``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_chat_ext.store.store import Store


def timed_ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    """``fn()``'s wall time in ms, and what it returned."""
    t = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t) * 1000, out


def _p99(samples_ms: list[float]) -> dict[str, float]:
    xs = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(xs), 2),
        "p99_ms": round(xs[min(len(xs) - 1, round(0.99 * (len(xs) - 1)))], 2),
        "max_ms": round(xs[-1], 2),
        "n": len(xs),
    }


def checkpoint_cost(tmp: Path, n: int) -> dict[str, Any]:
    """µs per checkpoint of a streaming answer (one UPDATE), against the old way of saving partial
    text (update_message: UPDATE + search signature rebuild + session touch)."""
    with Store(tmp / "checkpoint.duckdb") as store:
        s = store.create_session(title="checkpoint")
        a = store.add_message(s["id"], "assistant", "", status="streaming")
        b = store.add_message(s["id"], "assistant", "", status="streaming")
        words = ("the heron waits in the shallow water for a fish to pass " * 40).split()
        cp, upd = [], []
        for i in range(n):
            text = " ".join(words[: 5 + i % len(words)])  # a growing answer, ~1-2k chars
            t = time.perf_counter()
            store.checkpoint_message(a["id"], text, i)
            cp.append((time.perf_counter() - t) * 1e6)
            t = time.perf_counter()
            store.update_message(b["id"], content=text)
            upd.append((time.perf_counter() - t) * 1e6)
    return {
        "checkpoint_us": {"p50": round(statistics.median(cp)), "p95": round(sorted(cp)[int(0.95 * (n - 1))])},
        "update_message_us_for_comparison": {
            "p50": round(statistics.median(upd)),
            "p95": round(sorted(upd)[int(0.95 * (n - 1))]),
        },
        "checkpoints": n,
        "note": "at one checkpoint per second, the p50 is the share of a second spent saving",
    }


def import_bulk(tmp: Path, n: int) -> dict[str, Any]:
    """Import of an n-message export: total time, the write-lock hold (its one transaction), and
    add_message latency from another thread meanwhile."""
    from jupyter_chat_ext.store.import_doc import parse_document
    from jupyter_chat_ext.store.search import signature

    text = "The quick brown fox jumps over the lazy dog number {i}. " * 4
    doc = {
        "format": "jupyter-chat-ext.session",
        "version": 1,
        "session": {"title": "big import", "params": {}},
        "messages": [
            {
                "id": i,
                "role": "user" if i % 2 == 0 else "assistant",
                "content": text.format(i=i),
                "parent_id": i - 1 if i % 2 else None,
                "created_at": "2025-05-01T12:00:00+00:00",
                "metrics": None
                if i % 2 == 0
                else {"prompt_tokens": 40, "completion_tokens": 50, "ttft_s": 0.1, "tokens_per_s": 20.0},
            }
            for i in range(n)
        ],
    }
    payload = json.dumps(doc)
    t = time.perf_counter()
    parsed = parse_document(payload)
    [signature(m.row.content) for m in parsed.messages]
    prep_s = time.perf_counter() - t
    with Store(tmp / "import.duckdb") as store:
        other = store.create_session(title="chatting meanwhile")
        latencies: list[float] = []
        done = threading.Event()

        def chat() -> None:
            while not done.is_set():
                ms, _ = timed_ms(lambda: store.add_message(other["id"], "user", "a chat during the import"))
                latencies.append(ms)
                time.sleep(0.005)

        # the write lock is held exactly for the import's one transaction: time it from inside
        db = store._db  # a bench may look at the internals it measures
        plain_tx, held = db.tx, []
        me = threading.get_ident()

        @contextlib.contextmanager
        def timed_tx() -> Any:
            t0 = time.perf_counter()
            with plain_tx() as con:
                yield con
            if threading.get_ident() == me:
                held.append(time.perf_counter() - t0)

        db.tx = timed_tx  # type: ignore[method-assign]
        chatter = threading.Thread(target=chat)
        chatter.start()
        t = time.perf_counter()
        imported = store.import_session(payload)
        total_s = time.perf_counter() - t
        done.set()
        chatter.join()
        db.tx = plain_tx  # type: ignore[method-assign]
        assert imported["message_count"] == n
    return {
        "messages": n,
        "import_s": round(total_s, 3),
        "validate_and_sign_s_unlocked": round(prep_s, 3),
        "lock_hold_s": round(sum(held), 3),
        "add_message_during_import": _p99(latencies),
        "before": "row-by-row import held the store lock 47 s for 20k messages (issue 12)",
    }


def writes_during_slow_query(tmp: Path, query_s: float, baseline_n: int) -> dict[str, Any]:
    """add_message latency alone, then while a SQL query runs for ``query_s`` (its timeout)."""
    with Store(tmp / "slowsql.duckdb") as store:
        s = store.create_session(title="slow sql")
        baseline = [
            timed_ms(lambda: store.add_message(s["id"], "user", "baseline write"))[0]
            for _ in range(baseline_n)
        ]
        outcome: dict[str, Any] = {}

        def slow() -> None:
            t = time.perf_counter()
            try:
                store.query(
                    "SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3", timeout_s=query_s
                )
            except Exception as exc:  # the expected query_timeout, recorded
                outcome["ended"] = getattr(exc, "code", type(exc).__name__)
            outcome["ran_s"] = round(time.perf_counter() - t, 2)

        thread = threading.Thread(target=slow)
        thread.start()
        time.sleep(0.5)  # let the query get going
        during: list[float] = []
        while thread.is_alive():
            during.append(timed_ms(lambda: store.add_message(s["id"], "user", "write during the query"))[0])
            time.sleep(0.02)
        thread.join()
    return {
        "add_message_alone": _p99(baseline),
        "add_message_during_query": _p99(during),
        "query": outcome,
        "before": "Store.query held the store lock: writes waited up to the query's 30 s timeout",
    }


def durability(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    return {
        "checkpoint": checkpoint_cost(tmp, args.checkpoints),
        "import": import_bulk(tmp, args.import_messages),
        "slow_sql": writes_during_slow_query(tmp, args.query_s, baseline_n=200),
    }
