"""A console's whole result, from the read-only query machinery of `headwater.query`, and
its first rows as JSON values.

The SQL goes through the same checks as `POST /api/query` (`check_read_only`: one read
statement, no files, network or settings) and runs on the same locked-down, read-only
session with the same interrupting time limit. Unlike the API's query, the whole result is
fetched (as Arrow): it is checked, materialized and exported as one consistent result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyarrow as pa

from headwater.query.safety import check_read_only
from headwater.query.session import Deadline, query_session
from headwater.query.values import JsonValue, to_json_value
from headwater.warehouse import Warehouse


@dataclass(frozen=True)
class ConsoleResult:
    """A console query's result."""

    table: pa.Table
    """Every row, as Arrow."""
    columns: list[dict[str, str]]
    """[{name, type}] with DuckDB's type names, in order."""
    seconds: float
    """Time from the check to the last row fetched."""

    @property
    def row_count(self) -> int:
        """Rows in the result."""
        return int(self.table.num_rows)


def fetch_result(
    warehouse: Warehouse, sql: str, timeout_seconds: float, timeout_setting: str
) -> ConsoleResult:
    """Check `sql` and run it read-only, returning every row; raises the query errors of
    `headwater.query` (`UnsafeQueryError` with the reason, `QueryTimeoutError` naming
    `timeout_setting`, `QueryFailedError`)."""
    started = time.perf_counter()
    check_read_only(sql)
    with query_session(warehouse) as conn:
        deadline = Deadline(conn, timeout_seconds, timeout_setting)
        with deadline.running():
            cursor = conn.execute(sql)
            description = cursor.description or []
            table = cursor.to_arrow_table()
    columns = [{"name": str(item[0]), "type": str(item[1])} for item in description]
    return ConsoleResult(table=table, columns=columns, seconds=time.perf_counter() - started)


def preview_rows(table: pa.Table, limit: int) -> list[list[JsonValue]]:
    """The first `limit` rows as lists of JSON values, converted as query results are
    (`headwater.query.values`): dates ISO 8601, decimals numbers, BLOBs base64, ..."""
    head = table.slice(0, limit)
    columns = [[_json(value) for value in _python_values(column)] for column in head.columns]
    return [list(row) for row in zip(*columns, strict=True)] if columns else []


def _python_values(column: pa.ChunkedArray) -> list[object]:
    kind = column.type
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        # Python's datetime holds microseconds; pyarrow would need pandas for nanoseconds.
        column = column.cast(pa.timestamp("us", kind.tz), safe=False)
    if pa.types.is_map(kind):
        return [None if pairs is None else dict(pairs) for pairs in column.to_pylist()]
    values: list[object] = column.to_pylist()
    return values


def _json(value: object) -> JsonValue:
    if isinstance(value, pa.MonthDayNano):
        months, days, nanoseconds = value  # as the file exports write intervals
        return f"P{months}M{days}DT{nanoseconds / 1e9:g}S"
    return to_json_value(value)
