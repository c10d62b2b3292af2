"""Store benchmark: API insert rate, last-50 paging and history search at N messages; prints JSON.

    .venv/bin/python bench/bench_store.py                 # 1M messages (a few minutes on 2 cores)
    .venv/bin/python bench/bench_store.py --rows 100000   # quick run
    .venv/bin/python bench/bench_store.py --durability-only   # checkpoint, 20k import, slow SQL (~1 min)

Setup fills the file without the API (that would take hours): sessions, messages and metrics come
from one ``INSERT ... SELECT`` each over a generated relation (pseudo-words with a skewed, Zipf-like
frequency; user turns 8-27 words, assistant turns 30-109), then ``Store(path)`` builds the search
signatures of the new rows on open (timed as ``signatures_s``). Queries then go through the public
Store API. The ``ilike_scan`` figures are the plain-scan alternative, for comparison.

``durability`` (issue 12, bench/store_durability.py): the cost of one checkpoint of a streaming
answer (µs), an import of 20k messages (seconds; the store-lock hold; add_message latency from
another thread meanwhile), and add_message latency (p50/p99) alone and while a 30 s SQL query runs
on the SQL door.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_durability import durability, timed_ms  # bench/ is on the path (line above)

from jupyter_chat_ext.store.store import Store

VOCAB = 20_000


def _pcts(samples_ms: list[float]) -> dict[str, float]:
    xs = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(xs), 2),
        "p95_ms": round(xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))], 2),
        "n": len(xs),
    }


def api_insert_rate(tmp: Path, n: int) -> dict[str, Any]:
    with Store(tmp / "api.duckdb") as store:
        s = store.create_session(title="insert rate")
        text = "The quick brown fox jumps over the lazy dog. " * 6
        t = time.perf_counter()
        for _ in range(n):
            store.add_message(s["id"], "user", text)
        plain = n / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(n // 2):
            m = store.add_message(s["id"], "assistant", text, status="interrupted")
            store.update_message(m["id"], content=text + " done", status="complete")
            store.add_metrics(
                m["id"],
                prompt_tokens=50,
                completion_tokens=60,
                ttft_s=0.1,
                tokens_per_s=15.0,
                total_s=4.0,
                model="m",
                device="cpu",
                finish_reason="stop",
            )
        turns = (n // 2) / (time.perf_counter() - t)
    return {
        "add_message_per_s": round(plain, 1),
        "assistant_turn_writes_per_s": round(turns, 1),
        "note": "assistant turn = add_message + update_message + add_metrics, each committed",
        "messages": n,
    }


def bulk_fill(path: Path, rows: int, sessions: int, seed: float) -> dict[str, Any]:
    Store(path).close()  # create the schema through the Store (migrations)
    con = duckdb.connect(str(path))
    t0 = time.perf_counter()
    con.execute("SELECT setseed(?)", [seed])
    con.execute(
        f"""CREATE TEMP TABLE vocab AS
            SELECT i, array_to_string(list_transform(range(2 + (hash(i) % 8)::INT),
                   lambda k: chr(97 + ((hash(i * 31 + k) % 26)::INT))), '') AS w
            FROM range({VOCAB}) t(i)"""
    )
    con.execute(
        f"""INSERT INTO sessions (id, title, params, pinned, created_at, updated_at)
            SELECT md5('s' || n::VARCHAR), vocab.w || ' notes ' || n::VARCHAR, '{{}}', n % 97 = 0,
                   TIMESTAMP '2025-01-01' + to_seconds(n), TIMESTAMP '2025-01-01' + to_seconds(n)
            FROM range({sessions}) t(n) JOIN vocab ON vocab.i = hash(n) % {VOCAB}"""
    )
    con.execute(
        f"""INSERT INTO messages (session_id, role, content, params, status, metadata, created_at)
            WITH v AS (SELECT list(w ORDER BY i) AS ws FROM vocab)
            SELECT md5('s' || ((hash(i) % {sessions}))::VARCHAR),
                   CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END,
                   array_to_string(list_transform(
                       range(CASE WHEN i % 2 = 0 THEN 8 + (i % 20) ELSE 30 + (i % 80) END),
                       lambda x: ws[1 + floor(pow(random(), 3) * {VOCAB})::INT]), ' '),
                   '{{}}', 'complete', '{{}}', TIMESTAMP '2025-01-01' + to_seconds(i * 10)
            FROM range({rows}) t(i), v
            ORDER BY i"""
    )
    con.execute(
        """INSERT INTO metrics SELECT id, 40 + id % 300, 30 + id % 200, 0.2, 15.0, 3.0, 'm', 'cpu', 'stop',
                   created_at FROM messages WHERE role = 'assistant'"""
    )
    con.execute(
        """UPDATE sessions SET message_count = a.n, prompt_tokens = a.p, completion_tokens = a.c,
                  updated_at = a.last FROM (
              SELECT m.session_id, count(*) AS n, coalesce(sum(x.prompt_tokens), 0) AS p,
                     coalesce(sum(x.completion_tokens), 0) AS c, max(m.created_at) AS last
              FROM messages m LEFT JOIN metrics x ON x.message_id = m.id GROUP BY m.session_id) a
           WHERE sessions.id = a.session_id"""
    )
    stats = con.execute("SELECT count(*), avg(strlen(content)) FROM messages").fetchone()
    con.close()
    fill_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    Store(path).close()  # builds the search signatures of every new row
    return {
        "method": "INSERT ... SELECT over generated relations (range() + list_transform), one statement "
        "per table; signatures built by Store on open",
        "fill_s": round(fill_s, 1),
        "signatures_s": round(time.perf_counter() - t1, 1),
        "messages": int(stats[0]) if stats else 0,
        "avg_message_chars": round(float(stats[1]), 1) if stats else 0,
        "sessions": sessions,
    }


def query_sets(store: Store, n: int, rng: random.Random) -> dict[str, list[str]]:
    _, common = store.query(
        "SELECT w FROM (SELECT unnest(string_split(content, ' ')) AS w FROM messages USING SAMPLE 2000) "
        "GROUP BY w ORDER BY count(*) DESC LIMIT 40"
    )
    _, sample = store.query(f"SELECT content FROM messages USING SAMPLE {n * 3}")
    texts = [r[0].split() for r in sample if r[0]]
    rng.shuffle(texts)
    _, vocab_words = store.query("SELECT DISTINCT unnest(string_split(title, ' ')) FROM sessions LIMIT 5000")
    titles = [r[0] for r in vocab_words if r[0] and not r[0].isdigit() and r[0] != "notes"]
    return {
        "one_word_from_text": [rng.choice(t) for t in texts[:n]],
        "two_words_same_message": [" ".join(rng.sample(t, 2)) for t in texts[n : 2 * n] if len(t) >= 2],
        "prefix_4_chars": [w[:4] for w in (rng.choice(t) for t in texts[2 * n : 3 * n]) if len(w) >= 4],
        "common_word": [rng.choice(common)[0] for _ in range(n)],
        "absent_word": [f"zq{rng.randrange(10**6)}x" for _ in range(n)],
        "title_word": [rng.choice(titles) for _ in range(n)] if titles else [],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmpdir:
        tmp = Path(args.dir) if args.dir else Path(tmpdir)
        tmp.mkdir(parents=True, exist_ok=True)
        path = tmp / "chat.duckdb"
        out: dict[str, Any] = {"rows": args.rows, "duckdb": duckdb.__version__}
        out["durability"] = durability(args, tmp)
        if args.durability_only:
            return out
        if args.reuse and path.exists():
            out["bulk_load"] = "reused " + str(path)
        else:
            if path.exists():
                path.unlink()
            out["api_insert"] = api_insert_rate(tmp, args.api_messages)
            sessions = max(1, args.rows // args.per_session)
            out["bulk_load"] = bulk_fill(path, args.rows, sessions, args.seed / 100)
        t = time.perf_counter()
        store = Store(path)
        out["open_ms"] = round((time.perf_counter() - t) * 1000, 1)
        try:
            _, sids = store.query(f"SELECT id FROM sessions USING SAMPLE {args.queries} ROWS")
            sids = [r[0] for r in sids]
            store.list_messages(sids[0], limit=50)  # warm-up
            last50, page2 = [], []
            for sid in sids:
                ms, msgs = timed_ms(lambda sid=sid: store.list_messages(sid, limit=50))
                last50.append(ms)
                if msgs:
                    page2.append(
                        timed_ms(
                            lambda sid=sid, b=msgs[0]["id"]: store.list_messages(sid, before=b, limit=50)
                        )[0]
                    )
            out["last_50"] = _pcts(last50)
            _, plan = store.query(f"EXPLAIN ANALYZE SELECT id FROM messages WHERE session_id = '{sids[0]}'")
            plan_text = "\n".join(str(c) for r in plan for c in r)
            out["last_50_session_lookup_plan"] = (
                "index scan (messages_session_idx)" if "Index Scan" in plan_text else "sequential scan"
            )
            out["last_50_before_page"] = _pcts(page2) if page2 else None
            out["list_sessions_plain"] = _pcts(
                [timed_ms(lambda: store.list_sessions(limit=50))[0] for _ in range(20)]
            )

            sets = query_sets(store, args.queries, rng)
            search: dict[str, Any] = {}
            all_messages, all_sessions, all_counts = [], [], []
            for kind, qs in sets.items():
                if not qs:
                    continue
                m_ms, s_ms, c_ms, hits = [], [], [], []
                for q in qs:
                    ms, found = timed_ms(lambda q=q: store.search_messages(q, limit=50))
                    m_ms.append(ms)
                    hits.append(len(found))
                    s_ms.append(timed_ms(lambda q=q: store.list_sessions(q=q, limit=50))[0])
                    c_ms.append(timed_ms(lambda q=q: store.count_sessions(q=q))[0])
                search[kind] = {
                    "search_messages": _pcts(m_ms),
                    "list_sessions_q": _pcts(s_ms),
                    "count_sessions_q": _pcts(c_ms),
                    "median_hits": statistics.median(hits),
                    "example": qs[0],
                }
                all_messages += m_ms
                all_sessions += s_ms
                all_counts += c_ms
            search["all_queries"] = {
                "search_messages": _pcts(all_messages),
                "list_sessions_q": _pcts(all_sessions),
                "count_sessions_q": _pcts(all_counts),
            }
            scan = []
            for q in sets["one_word_from_text"][:10]:
                scan.append(
                    timed_ms(
                        lambda q=q: store.query(
                            f"SELECT id FROM messages WHERE content ILIKE '%{q}%' ORDER BY id DESC LIMIT 50"
                        )
                    )[0]
                )
            search["ilike_scan_for_comparison"] = _pcts(scan)
            out["search"] = search
            _, sizes = store.query(
                "SELECT table_name, estimated_size FROM duckdb_tables() WHERE schema_name = 'main'"
            )
            out["table_rows"] = {r[0]: r[1] for r in sizes}
        finally:
            store.close()
        out["db_file_mb"] = round(path.stat().st_size / 2**20, 1)
        return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="messages in the bulk-loaded file")
    p.add_argument("--per-session", type=int, default=100, help="average messages per session")
    p.add_argument("--queries", type=int, default=40, help="queries per kind / sessions sampled")
    p.add_argument("--api-messages", type=int, default=300, help="messages written through the API")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dir", help="keep the files in this folder instead of a temp dir")
    p.add_argument("--reuse", action="store_true", help="with --dir: query the file left by a previous run")
    p.add_argument("--checkpoints", type=int, default=500, help="checkpoints timed")
    p.add_argument("--import-messages", type=int, default=20_000, help="messages in the imported export")
    p.add_argument("--query-s", type=float, default=30.0, help="how long the slow SQL query runs")
    p.add_argument(
        "--durability-only", action="store_true", help="only checkpoint, import and slow-SQL figures (~1 min)"
    )
    print(json.dumps(run(p.parse_args()), indent=2))


if __name__ == "__main__":
    main()
