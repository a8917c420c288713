"""Merging change batches and snapshots into `raw_<source>` tables (DuckDB SQL).

Every function here runs inside the caller's warehouse transaction: the merge, the schema
changes and the table's CDC state commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa

from headwater.cdc.batch import (
    DELETED_AT,
    META_COMMITTED_AT,
    META_LSN,
    META_OP,
    META_RESOLVE_FROM,
    META_UNRESOLVED,
    OP_DELETE,
    OP_UPSERT,
    UPDATED_AT,
    WAREHOUSE_META_COLUMNS,
    SourceColumn,
    TableChanges,
)
from headwater.cdc.evolution import EvolutionPlan, plan_evolution
from headwater.config.sources import DeleteMode
from headwater.warehouse.sql import quote_identifier, quote_literal

_BATCH = "hw_cdc_batch"
_STAGED = "hw_cdc_staged"
_FOUND = "_hw_found"
_LOOKUP = "_hw_lookup_"


def live_columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """Column -> type of the warehouse table now; empty when it does not exist."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_catalog = current_database() AND table_schema = {quote_literal(schema)} "
        f"AND table_name = {quote_literal(table)} ORDER BY ordinal_position"
    ).fetchall()
    return {name: kind for name, kind in rows}


def create_table(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[SourceColumn]
) -> None:
    """(Re)create the warehouse table for `columns`, plus Headwater's CDC columns."""
    definitions = [f"{quote_identifier(c.name)} {c.warehouse_type}" for c in columns]
    definitions += [f"{quote_identifier(name)} {kind}" for name, kind in WAREHOUSE_META_COLUMNS]
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    conn.execute(f"DROP TABLE IF EXISTS {quote_identifier(schema, table)}")
    conn.execute(f"CREATE TABLE {quote_identifier(schema, table)} ({', '.join(definitions)})")


def evolve(
    conn: duckdb.DuckDBPyConnection, schema: str, table: str, columns: list[SourceColumn]
) -> EvolutionPlan:
    """Add new source columns and apply safe widenings; report drift without touching it."""
    plan = plan_evolution(live_columns(conn, schema, table), columns)
    target = quote_identifier(schema, table)
    for column in plan.added:
        name = quote_identifier(column.name)
        conn.execute(f"ALTER TABLE {target} ADD COLUMN {name} {column.warehouse_type}")
    for column in plan.widened:
        name = quote_identifier(column.name)
        kind = column.warehouse_type
        conn.execute(f"ALTER TABLE {target} ALTER COLUMN {name} SET DATA TYPE {kind}")
    return plan


def load_snapshot(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    columns: list[SourceColumn],
    batches: Iterable[pa.RecordBatch],
    lsn: int,
) -> int:
    """Replace the table with the snapshot's rows (text batches from the source); returns
    the row count. Rows carry the snapshot's LSN and no commit time."""
    create_table(conn, schema, table, columns)
    target = quote_identifier(schema, table)
    names = ", ".join(quote_identifier(c.name) for c in columns)
    casts = ", ".join(_cast(c) for c in columns)
    rows = 0
    for batch in batches:
        conn.register(_BATCH, batch)
        try:
            conn.execute(
                f"INSERT INTO {target} ({names}, {quote_identifier(META_LSN)}) "
                f"SELECT {casts}, {lsn} FROM {_BATCH}"
            )
        finally:
            conn.unregister(_BATCH)
        rows += batch.num_rows
    return rows


def apply_changes(
    conn: duckdb.DuckDBPyConnection, schema: str, changes: TableChanges, deletes: DeleteMode
) -> int:
    """Merge one table's reduced changes: delete every key the batch touches, then insert
    the keys' final rows (soft deletes as rows with `_hw_deleted_at` set). Returns the
    rows whose unchanged values were not in the warehouse either (left NULL): a sign the
    table needs `headwater cdc resync`."""
    target = quote_identifier(schema, changes.table)
    if changes.truncated:
        if deletes == "hard":
            conn.execute(f"DELETE FROM {target}")
        else:
            conn.execute(
                f"UPDATE {target} SET {quote_identifier(DELETED_AT)} = now() "
                f"WHERE {quote_identifier(DELETED_AT)} IS NULL"
            )
    if changes.rows.num_rows == 0:
        return 0
    key = changes.key or [c.name for c in changes.columns]
    by_name = {c.name: c for c in changes.columns}
    # The key of the warehouse row holding a row's unresolved values: its own, or the old
    # key of an update that changed it.
    lookups = [
        f"CASE WHEN {META_RESOLVE_FROM} IS NULL THEN {_cast(by_name[k])} ELSE "
        f"{by_name[k].text_cast.format(f'{META_RESOLVE_FROM}[{i + 1}]')} END AS {_LOOKUP}{i}"
        for i, k in enumerate(key)
    ]
    conn.register(_BATCH, changes.rows)
    try:
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE {_STAGED} AS SELECT {META_OP}, {META_LSN}, "
            f"{META_COMMITTED_AT}, {META_UNRESOLVED}, false AS {_FOUND}, "
            + ", ".join(lookups)
            + ", "
            + ", ".join(f"{_cast(c)} AS {quote_identifier(c.name)}" for c in changes.columns)
            + f" FROM {_BATCH}"
        )
    finally:
        conn.unregister(_BATCH)
    try:
        return _merge_staged(conn, target, changes, key, deletes)
    finally:
        conn.execute(f"DROP TABLE IF EXISTS temp.{_STAGED}")


def _merge_staged(
    conn: duckdb.DuckDBPyConnection,
    target: str,
    changes: TableChanges,
    key: list[str],
    deletes: DeleteMode,
) -> int:
    staged = f"temp.{_STAGED}"
    matches = " AND ".join(
        f"s.{quote_identifier(k)} IS NOT DISTINCT FROM t.{quote_identifier(k)}" for k in key
    )
    # A hard delete needs only its key; a soft delete keeps the row, so fill it too.
    lookup = " AND ".join(
        f"s.{_LOOKUP}{i} IS NOT DISTINCT FROM t.{quote_identifier(k)}" for i, k in enumerate(key)
    )
    _resolve_from_warehouse(conn, staged, target, changes.columns, lookup, deletes == "hard")
    conn.execute(f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM {staged} s WHERE {matches})")
    complete = f"(len({META_UNRESOLVED}) = 0 OR {_FOUND})"
    keep = f"{META_OP} = '{OP_UPSERT}'"
    if deletes == "soft":
        keep += f" OR ({META_OP} = '{OP_DELETE}' AND {complete})"
    names = [quote_identifier(c.name) for c in changes.columns]
    conn.execute(
        f"INSERT INTO {target} ({', '.join(names)}, {quote_identifier(META_LSN)}, "
        f"{quote_identifier(UPDATED_AT)}, {quote_identifier(DELETED_AT)}) "
        f"SELECT {', '.join(names)}, {META_LSN}, {META_COMMITTED_AT}, "
        f"CASE WHEN {META_OP} = '{OP_DELETE}' THEN {META_COMMITTED_AT} END "
        f"FROM {staged} WHERE {keep}"
    )
    row = conn.execute(
        f"SELECT count(*) FROM {staged} WHERE {META_OP} = '{OP_UPSERT}' AND NOT {complete}"
    ).fetchone()
    assert row is not None
    return int(row[0])


def _resolve_from_warehouse(
    conn: duckdb.DuckDBPyConnection,
    staged: str,
    target: str,
    columns: list[SourceColumn],
    matches: str,
    upserts_only: bool,
) -> None:
    """Fill the values the batch does not carry (unchanged TOAST, the rest of a deleted row)
    from the warehouse row of the same key, before that row is replaced."""
    which = f"{META_OP} = '{OP_UPSERT}'" if upserts_only else "true"
    rows = conn.execute(
        f"SELECT DISTINCT unnest({META_UNRESOLVED}) FROM {staged} WHERE {which}"
    ).fetchall()
    unresolved = {row[0] for row in rows}
    fill = [c.name for c in columns if c.name in unresolved]
    if not fill:
        return
    assignments = [
        f"{quote_identifier(name)} = CASE WHEN list_contains(s.{META_UNRESOLVED}, "
        f"{quote_literal(name)}) THEN t.{quote_identifier(name)} "
        f"ELSE s.{quote_identifier(name)} END"
        for name in fill
    ]
    conn.execute(
        f"UPDATE {staged} s SET {', '.join(assignments)}, {_FOUND} = true "
        f"FROM {target} t WHERE len(s.{META_UNRESOLVED}) > 0 AND {matches}"
        + (f" AND s.{META_OP} = '{OP_UPSERT}'" if upserts_only else "")
    )


def _cast(column: SourceColumn) -> str:
    return column.text_cast.format(quote_identifier(column.name))
