"""What the warehouse holds: tables and views with columns, row counts and dlt load times."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from headwater.warehouse import LAKE
from headwater.warehouse.sql import quote_identifier, quote_literal

TableKey = tuple[str, str, str]
"""(catalog, schema, table), lower-cased."""


@dataclass(frozen=True)
class WarehouseTable:
    """A table or view as the warehouse reports it."""

    catalog: str
    """Attached database it lives in (`lake`)."""
    schema: str
    """Schema name."""
    name: str
    """Table name."""
    is_view: bool
    """A view (not counted: counting would run its query)."""
    columns: tuple[tuple[str, str], ...]
    """(column, data type) in table order."""
    row_count: int | None = None
    """Rows, for tables."""
    last_loaded: datetime | None = None
    """Latest successful dlt load into its schema (UTC), from `_dlt_loads`."""


def warehouse_tables(
    conn: duckdb.DuckDBPyConnection, catalogs: Iterable[str] = (LAKE,)
) -> dict[TableKey, WarehouseTable]:
    """Tables and views of the given attached catalogs, dlt's `_dlt_*` tables left out, with
    columns, row counts (tables only) and the last dlt load of their schema."""
    # Literals rather than `?` parameters: binding makes duckdb import pandas (about 2 s).
    wanted = ", ".join(quote_literal(c) for c in sorted(catalogs))
    rows = conn.execute(
        "SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables "
        f"WHERE table_catalog IN ({wanted}) ORDER BY 1, 2, 3"
    ).fetchall()
    columns: dict[TableKey, list[tuple[str, str]]] = {}
    for cat, schema, table, column, data_type in conn.execute(
        "SELECT table_catalog, table_schema, table_name, column_name, data_type "
        f"FROM information_schema.columns WHERE table_catalog IN ({wanted}) "
        "ORDER BY 1, 2, 3, ordinal_position"
    ).fetchall():
        columns.setdefault((cat.lower(), schema.lower(), table.lower()), []).append(
            (column, data_type)
        )
    # dlt's `_dlt_*` tables and `_`-prefixed schemas (dlt staging) are bookkeeping.
    user = [r for r in rows if not r[2].startswith("_dlt_") and not r[1].startswith("_")]
    counted = [r for r in user if r[3] != "VIEW"]
    counts: dict[TableKey, int] = {}
    if counted:
        union = " UNION ALL ".join(
            f"SELECT {quote_literal(c)}, {quote_literal(s)}, {quote_literal(t)}, count(*) "
            f"FROM {quote_identifier(c, s, t)}"
            for c, s, t, _ in counted
        )
        counts = {
            (c.lower(), s.lower(), t.lower()): int(n)
            for c, s, t, n in conn.execute(union).fetchall()
        }
    loads = {(c, s): _last_load(conn, c, s) for c, s, t, _ in rows if t == "_dlt_loads"}
    found: dict[TableKey, WarehouseTable] = {}
    for cat, schema, table, kind in user:
        key = (cat.lower(), schema.lower(), table.lower())
        found[key] = WarehouseTable(
            catalog=cat,
            schema=schema,
            name=table,
            is_view=kind == "VIEW",
            columns=tuple(columns.get(key, ())),
            row_count=counts.get(key),
            last_loaded=loads.get((cat, schema)),
        )
    return found


def _last_load(conn: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> datetime | None:
    # status 0 is a completed load; timezone('UTC', ...) keeps the result independent of the
    # session time zone and avoids DuckDB's tz-aware conversion.
    row = conn.execute(
        "SELECT timezone('UTC', max(inserted_at)) FROM "
        f"{quote_identifier(catalog, schema, '_dlt_loads')} WHERE status = 0"
    ).fetchone()
    value = row[0] if row else None
    return value.replace(tzinfo=UTC) if isinstance(value, datetime) else None
