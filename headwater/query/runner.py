"""Run one checked, read-only query on the warehouse and return a capped, JSON-ready result."""

from __future__ import annotations

import time
from dataclasses import dataclass

from headwater.query.safety import check_read_only
from headwater.query.session import Deadline, query_session
from headwater.query.values import JsonValue, row_converter
from headwater.warehouse import Warehouse


@dataclass(frozen=True)
class QueryColumn:
    """One column of a result."""

    name: str
    """The column's name as the query gave it."""
    type: str
    """Its DuckDB type, e.g. `BIGINT`, `DECIMAL(18,3)`, `TIMESTAMP WITH TIME ZONE`."""


@dataclass(frozen=True)
class QueryResult:
    """The first rows of a query's result, as JSON values."""

    columns: list[QueryColumn]
    """The result's columns, in order."""
    rows: list[list[JsonValue]]
    """At most `max_rows` rows, each a list in column order (see `headwater.query.values`)."""
    truncated: bool
    """The query returned more rows than `rows` holds."""
    elapsed_ms: float
    """Time from the check to the last row fetched, in milliseconds."""

    @property
    def row_count(self) -> int:
        """How many rows `rows` holds."""
        return len(self.rows)


def run_query(warehouse: Warehouse, sql: str, max_rows: int, timeout_seconds: float) -> QueryResult:
    """Check `sql` (`check_read_only`), run it on a locked-down read-only session and return
    its first `max_rows` rows; DuckDB work past `timeout_seconds` is interrupted.

    Raises `UnsafeQueryError` (refused), `QueryTimeoutError`, `QueryFailedError` (DuckDB's
    error, e.g. an unknown table) or the warehouse's `TransientError` (catalog locked)."""
    if max_rows < 1:
        raise ValueError("max_rows must be at least 1")
    started = time.perf_counter()
    check_read_only(sql)
    with query_session(warehouse) as conn:
        deadline = Deadline(conn, timeout_seconds)
        with deadline.running():
            cursor = conn.execute(sql)
            description = cursor.description or []
            # One row past the cap tells whether there were more, without fetching them all.
            raw_rows = cursor.fetchmany(max_rows + 1)
    columns = [QueryColumn(name=str(item[0]), type=str(item[1])) for item in description]
    convert = row_converter([column.type for column in columns])
    rows = [convert(row) for row in raw_rows[:max_rows]]
    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    return QueryResult(
        columns=columns, rows=rows, truncated=len(raw_rows) > max_rows, elapsed_ms=elapsed_ms
    )
