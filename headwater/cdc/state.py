"""Per-table CDC state, kept in the warehouse itself (schema `_hw_cdc`).

The state commits in the same transaction as the merge it describes, so "what the warehouse
holds" and "where the stream is" can never disagree; the slot's confirmed position may lag
behind it, never run ahead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal

import duckdb

from headwater.warehouse.sql import quote_literal

STATE_TABLE = "_hw_cdc.tables"
"""Where the state lives (a `_`-schema: left out of the catalog, dbt sources and counts)."""

TableStatus = Literal["streaming", "drift"]
"""streaming: changes are applied; drift: an incompatible source change stopped this table
until a resync."""


@dataclass
class TableState:
    """Where one table of a CDC source stands."""

    source: str
    """Source name."""
    table_name: str
    """Table name."""
    status: TableStatus
    """streaming or drift."""
    applied_lsn: int
    """Transactions committing before this LSN are in the warehouse table."""
    snapshot_at: datetime | None = None
    """When the table was last (re)loaded from a snapshot."""
    inserts: int = 0
    """Inserts applied since the snapshot."""
    updates: int = 0
    """Updates applied since the snapshot."""
    deletes: int = 0
    """Deletes applied since the snapshot."""
    truncates: int = 0
    """Truncates applied since the snapshot."""
    last_batch_at: datetime | None = None
    """When the last batch touching this table committed in the warehouse."""
    detail: str = ""
    """Why the table is not streaming (the drift), if it is not."""


_COLUMNS = (
    "source VARCHAR, table_name VARCHAR, status VARCHAR, applied_lsn BIGINT, "
    "snapshot_at TIMESTAMPTZ, inserts BIGINT, updates BIGINT, "
    "deletes BIGINT, truncates BIGINT, last_batch_at TIMESTAMPTZ, detail VARCHAR"
)


def ensure_state_table(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the state schema and table if this warehouse has none yet."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS _hw_cdc")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} ({_COLUMNS})")


def read_states(conn: duckdb.DuckDBPyConnection, source: str) -> dict[str, TableState]:
    """Table -> state for `source`; empty when nothing was replicated yet."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = '_hw_cdc' AND table_name = 'tables'"
    ).fetchone()
    if not exists or not exists[0]:
        return {}
    names = [f.name for f in fields(TableState)]
    rows = conn.execute(
        f"SELECT {', '.join(names)} FROM {STATE_TABLE} WHERE source = {quote_literal(source)}"
    ).fetchall()
    return {row[1]: TableState(**dict(zip(names, row, strict=True))) for row in rows}


def save_state(conn: duckdb.DuckDBPyConnection, state: TableState) -> None:
    """Write `state` (replacing the table's previous one) in the caller's transaction."""
    ensure_state_table(conn)
    conn.execute(
        f"DELETE FROM {STATE_TABLE} WHERE source = {quote_literal(state.source)} "
        f"AND table_name = {quote_literal(state.table_name)}"
    )
    values = ", ".join(_literal(getattr(state, f.name)) for f in fields(TableState))
    conn.execute(f"INSERT INTO {STATE_TABLE} VALUES ({values})")


def delete_states(conn: duckdb.DuckDBPyConnection, source: str) -> None:
    """Forget every table of `source` (its slot is gone: everything is re-snapshotted)."""
    ensure_state_table(conn)
    conn.execute(f"DELETE FROM {STATE_TABLE} WHERE source = {quote_literal(source)}")


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(int(value))
    if isinstance(value, datetime):
        return f"{quote_literal(value.isoformat())}::TIMESTAMPTZ"
    return quote_literal(str(value))
