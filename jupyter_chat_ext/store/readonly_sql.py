"""Which SQL the ``%chat sql`` door may run: one statement that only reads.

DuckDB's own parser (``duckdb.extract_statements``) classifies the text; only a single SELECT-type
statement (SELECT, WITH ... SELECT, FROM-first, VALUES, DESCRIBE, SHOW, SUMMARIZE) or an EXPLAIN
of one passes. The Store still runs it inside a transaction that is rolled back.
"""

from __future__ import annotations

import re

import duckdb

from ..errors import InvalidInput

_EXPLAIN = re.compile(r"^\s*explain\s+(?:\(\s*[^)]*\)\s*)?(?:analy[sz]e\s+)?", re.IGNORECASE)


def _statements(sql: str) -> list[duckdb.Statement]:
    try:
        return list(duckdb.extract_statements(sql))
    except duckdb.Error as exc:
        raise InvalidInput(f"SQL does not parse: {exc}") from exc


def check_read_only(sql: str) -> str:
    """Return the single statement's text, or raise InvalidInput naming what was refused."""
    if not isinstance(sql, str) or not sql.strip():
        raise InvalidInput("SQL must be a non-empty string")
    statements = _statements(sql)
    if len(statements) != 1:
        raise InvalidInput(f"one statement at a time, got {len(statements)}")
    stmt = statements[0]
    kind = stmt.type
    if kind == duckdb.StatementType.EXPLAIN:
        inner = _statements(_EXPLAIN.sub("", stmt.query, count=1))
        if len(inner) != 1 or inner[0].type != duckdb.StatementType.SELECT:
            raise InvalidInput("EXPLAIN is allowed only for a read-only SELECT")
        return stmt.query
    if kind != duckdb.StatementType.SELECT:
        raise InvalidInput(
            f"read-only queries only (SELECT, WITH, DESCRIBE, SHOW, EXPLAIN): refused a {kind.name} statement"
        )
    return stmt.query
