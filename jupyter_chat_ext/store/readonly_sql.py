"""Which SQL the ``%chat sql`` door may run: one statement whose whole parse tree only reads.

DuckDB's parser decides, twice. ``duckdb.extract_statements`` says what the top statement is: only
a single SELECT-type statement (SELECT, WITH ... SELECT, FROM-first, VALUES, DESCRIBE, SHOW,
SUMMARIZE) or an EXPLAIN of one passes. That is not enough: a CTE may hold a write
(``WITH x AS (INSERT ... RETURNING id) SELECT ... FROM x`` is a SELECT statement; it ran, moved
``message_id_seq`` 102 -> 107, and held row locks that turned a user's DELETE into a 500). So the
statement is serialised with DuckDB's own ``json_serialize_sql`` (~1 ms here) and its tree walked:

- every query node must read: ``INSERT_QUERY_NODE``, ``UPDATE_QUERY_NODE``, ``DELETE_QUERY_NODE``
  (and any other ``*_QUERY_NODE`` a later DuckDB adds) are refused, however deeply nested;
- a table function must be one of ``TABLE_FUNCTIONS`` (an allowlist: ``checkpoint()``,
  ``duckdb_settings()``, ``read_csv``, ``glob``, ``read_text`` ... are not on it);
- a scalar function must not be one of ``REFUSED_FUNCTIONS`` (sequences, SQL in a string, settings);
- a table name must not be a file path (DuckDB reads ``FROM '/etc/passwd'`` as a CSV) nor one of
  the system views that show files or settings (``REFUSED_TABLES``).

A statement DuckDB cannot serialise (PIVOT, for one) is refused: what cannot be checked does not
run. Behind this check the database's lock-down (:mod:`.database`: no files, no network, no
extensions, no SET) and a rolled-back transaction remain as further walls.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import duckdb

from ..errors import InvalidInput

#: scalar functions a read-only query may not call, and why
REFUSED_FUNCTIONS = {
    "nextval": "it advances a sequence (the store's message ids), which no rollback undoes",
    "setval": "it moves a sequence (the store's message ids)",
    "query": "it runs SQL given as a string, past the read-only check",
    "query_table": "it reads tables named in a string, past the read-only check",
    "json_execute_serialized_sql": "it runs SQL given as a string, past the read-only check",
    "current_setting": "it shows the server's settings (file paths among them)",
    "getenv": "it shows the server's environment",
}
#: table functions a query may read from; every other one (checkpoint, duckdb_settings,
#: duckdb_databases, read_csv, read_parquet, read_text, glob, pragma_database_list ...) is refused
TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "json_each",
        "json_tree",
        "duckdb_tables",
        "duckdb_columns",
        "duckdb_views",
        "duckdb_indexes",
        "duckdb_constraints",
        "duckdb_schemas",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_keywords",
        "duckdb_sequences",
        "pragma_table_info",
        "pragma_show",
    }
)
#: system views that show the store's file path, the settings or the log
REFUSED_TABLES = frozenset({"duckdb_databases", "pragma_database_list", "pg_settings", "duckdb_logs"})
#: a table name holding one of these is a file DuckDB would read (a replacement scan)
_PATH_CHARS = re.compile(r"[/\\.:~]")
_EXPLAIN = re.compile(r"^\s*explain\s+(?:\(\s*[^)]*\)\s*)?(?:analy[sz]e\s+)?", re.IGNORECASE)

# json_serialize_sql needs a connection: a private in-memory one (connecting costs ~37 ms, a call
# ~1 ms), used under a lock because a DuckDB connection is not for two threads at once. Made on the
# first check, not at import: a DuckDB instance holds ~24 MB resident, which a server that never
# runs the SQL door should not pay (bench/bench_rss.py)
_parser: duckdb.DuckDBPyConnection | None = None
_parser_lock = threading.Lock()


def _statements(sql: str) -> list[duckdb.Statement]:
    try:
        return list(duckdb.extract_statements(sql))
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL does not parse: {exc}") from exc


def _tree(sql: str) -> dict[str, Any]:
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(":memory:")
        try:
            raw = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
        except duckdb.Error as exc:
            raise InvalidInput(f"SQL does not parse: {exc}") from exc
    tree = json.loads(raw[0]) if raw else {"error": True}
    if tree.get("error"):
        why = tree.get("error_message") or "it could not be analysed"
        raise InvalidInput(f"the SQL door runs only statements it can check, and {why}")
    return tree


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object in the parse tree (iterative: a deeply nested query is not a RecursionError)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_tree(tree: dict[str, Any]) -> None:
    for node in _nodes(tree):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_QUERY_NODE"):
            what = kind.removesuffix("_QUERY_NODE")
            raise InvalidInput(f"read-only queries only: refused a nested {what}, however it is wrapped")
        if kind == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            name = str(node["function"].get("function_name") or "").lower()
            if name not in TABLE_FUNCTIONS:
                raise InvalidInput(
                    f"the SQL door refuses the table function {name}(): it reads the store's tables "
                    f"and {', '.join(sorted(TABLE_FUNCTIONS))}"
                )
        elif node.get("class") == "FUNCTION":
            name = str(node.get("function_name") or "").lower()
            if name in REFUSED_FUNCTIONS:
                raise InvalidInput(f"the SQL door refuses {name}(): {REFUSED_FUNCTIONS[name]}")
        elif kind == "BASE_TABLE":
            name = str(node.get("table_name") or "")
            if _PATH_CHARS.search(name):
                raise InvalidInput(f"the SQL door reads the store's tables, not files: refused {name[:80]!r}")
            if name.lower() in REFUSED_TABLES or str(node.get("catalog_name") or "").lower() == "system":
                raise InvalidInput(f"the SQL door refuses {name}: it shows the server's files or settings")


def check_read_only(sql: str) -> str:
    """Return the single statement's text, or raise InvalidInput naming what was refused."""
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInput("SQL must be a non-empty string")
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"sql is not valid UTF-8 (a lone surrogate at character {exc.start})") from exc
    statements = _statements(sql)
    if len(statements) != 1:
        raise InvalidInput(f"one statement at a time, got {len(statements)}")
    stmt = statements[0]
    kind = stmt.type
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _statements(_EXPLAIN.sub("", stmt.query, count=1))
        if len(inner) != 1 or inner[0].type != duckdb.StatementType.SELECT:
            raise InvalidInput("EXPLAIN is allowed only for a read-only SELECT")
        _check_tree(_tree(inner[0].query))
        return stmt.query
    if kind != duckdb.StatementType.SELECT:
        raise InvalidInput(
            f"read-only queries only (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN): refused a {kind.name} statement"
        )
    _check_tree(_tree(stmt.query))
    return stmt.query
