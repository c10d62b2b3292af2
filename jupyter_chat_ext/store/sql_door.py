"""The SQL door (``%chat sql``, ``POST /chat-ext/sql``): one read-only statement over the store.

Three walls, each tested in tests/core/test_store_sql_door.py:
1. :func:`.readonly_sql.check_read_only`: one SELECT-type statement whose whole parse tree
   (DuckDB's ``json_serialize_sql``) only reads: no write hidden in a CTE or subquery, no
   sequence-moving, settings-reading or SQL-in-a-string function, no table function but a
   short allowlist, no file path as a table;
2. the database lock-down (:mod:`.database`): no files, no network, no extensions, no SET; so the
   only tables it can name are the store's own;
3. its own cursor inside a transaction that is rolled back, interrupted at the timeout.

The cursor is why a slow query no longer freezes chats: it reads a snapshot without the store's
write lock (before, a 30 s query held that lock for 30 s and every chat waited behind it). As the
door cannot write, a query holds no row lock either: a user's delete goes through while one runs
(a write conflict that does happen elsewhere is a 409 ``write_conflict``, see database.py).
"""

from __future__ import annotations

import threading
from typing import Any

import duckdb

from ..errors import InvalidInput
from . import values as val
from .database import Database
from .readonly_sql import check_read_only


def run_query(
    db: Database, sql: str, *, max_rows: int = 10_000, timeout_s: float = 30.0
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; return (column names, at most ``max_rows`` rows)."""
    statement = check_read_only(sql)
    max_rows = val.check_int(max_rows, "max_rows", minimum=1)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not 0 < timeout_s <= 3600:
        raise InvalidInput("timeout_s must be a number of seconds in (0, 3600]")
    with db.reader() as cur:
        timer = threading.Timer(timeout_s, cur.interrupt)
        timer.daemon = True
        timer.start()
        try:
            result = cur.execute(statement)
            columns = [d[0] for d in (result.description or [])]
            rows = result.fetchmany(max_rows) if columns else []
        except duckdb.InterruptException as exc:
            raise InvalidInput(f"query stopped after {timeout_s:g} s", code="query_timeout") from exc
        except duckdb.PermissionException as exc:
            raise InvalidInput(
                f"the SQL door reads only the chat store's tables (no files, network or extensions): {exc}"
            ) from exc
        except duckdb.Error as exc:
            raise InvalidInput(f"query failed: {exc}") from exc
        finally:
            timer.cancel()
    return columns, rows
