"""Which SQL the ``%chat sql`` door may run: one statement that only reads.

DuckDB's own parser (``duckdb.extract_statements``) classifies the text; only a single SELECT-type
statement (SELECT, WITH ... SELECT, FROM-first, VALUES, DESCRIBE, SHOW, SUMMARIZE) or an EXPLAIN
of one passes. A SELECT can still have effects through a few functions: ``nextval``/``setval``
advance a sequence even in a rolled-back transaction (the message ids), and ``query``,
``query_table`` and ``json_execute_serialized_sql`` run SQL hidden in a string, past this check.
Calls to them are refused by name, found with DuckDB's tokenizer (so a string or comment that
merely mentions them is fine). Files, network and extensions are shut off by the database's
lock-down (see :mod:`.database`); the query runs in a transaction that is rolled back.
"""

from __future__ import annotations

import itertools
import re

import duckdb

from ..errors import InvalidInput

#: functions a read-only query may not call (see the module docstring)
REFUSED_FUNCTIONS = {
    "nextval": "it advances a sequence (the store's message ids), which no rollback undoes",
    "setval": "it moves a sequence (the store's message ids)",
    "query": "it runs SQL given as a string, past the read-only check",
    "query_table": "it reads tables named in a string, past the read-only check",
    "json_execute_serialized_sql": "it runs SQL given as a string, past the read-only check",
}
_EXPLAIN = re.compile(r"^\s*explain\s+(?:\(\s*[^)]*\)\s*)?(?:analy[sz]e\s+)?", re.IGNORECASE)


def _statements(sql: str) -> list[duckdb.Statement]:
    try:
        return list(duckdb.extract_statements(sql))
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL does not parse: {exc}") from exc


def _refuse_functions(sql: str) -> None:
    """InvalidInput if the statement calls one of REFUSED_FUNCTIONS (a name followed by ``(``)."""
    raw = sql.encode("utf-8")  # the tokenizer's positions are byte offsets
    marks = duckdb.tokenize(sql)
    words: list[tuple[str, duckdb.token_type]] = []
    for i, (start, kind) in enumerate(marks):
        end = marks[i + 1][0] if i + 1 < len(marks) else len(raw)
        if kind != duckdb.token_type.comment:  # comments may sit between a name and its "("
            words.append((raw[start:end].decode("utf-8", "replace").strip(), kind))
    names = (duckdb.token_type.identifier, duckdb.token_type.keyword)
    for (text, kind), (after, _) in itertools.pairwise(words):
        name = text.strip('"').lower()
        if kind in names and name in REFUSED_FUNCTIONS and after.startswith("("):
            raise InvalidInput(f"the SQL door refuses {name}(): {REFUSED_FUNCTIONS[name]}")


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
        _refuse_functions(stmt.query)
        return stmt.query
    if kind != duckdb.StatementType.SELECT:
        raise InvalidInput(
            f"read-only queries only (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN): refused a {kind.name} statement"
        )
    _refuse_functions(stmt.query)
    return stmt.query
