"""Where a CDC source stands, and whether the warehouse's column types match the source's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from connectors.postgres_cdc.catalog import table_info
from connectors.postgres_cdc.pgoutput import format_lsn
from connectors.postgres_cdc.replicator import Replicator
from connectors.postgres_cdc.slot import slot_info
from headwater.cdc.evolution import same_type
from headwater.cdc.state import read_states
from headwater.warehouse import table_columns


@dataclass(frozen=True)
class TableStatus:
    """One replicated table."""

    table: str
    """Table name."""
    status: str
    """streaming, or drift (stopped until a resync)."""
    rows: int | None
    """Rows in the warehouse table (soft-deleted rows included)."""
    inserts: int
    """Inserts applied since the last snapshot."""
    updates: int
    """Updates applied since the last snapshot."""
    deletes: int
    """Deletes applied since the last snapshot."""
    truncates: int
    """Truncates applied since the last snapshot."""
    applied_lsn: str
    """Changes committed before this LSN are in the warehouse."""
    snapshot_at: datetime | None
    """When the table was last (re)loaded from a snapshot."""
    last_batch_at: datetime | None
    """When a batch last changed this table."""
    detail: str
    """The drift, when the table is stopped."""


@dataclass(frozen=True)
class CdcStatus:
    """A CDC source's slot and tables."""

    source: str
    """Source name."""
    slot: str
    """Replication slot name."""
    slot_exists: bool
    """False before the first run (or when someone dropped it)."""
    confirmed_lsn: str | None
    """The slot's confirmed position."""
    lag_bytes: int | None
    """WAL written after the confirmed position."""
    retained_bytes: int | None
    """WAL the server keeps for the slot."""
    lag_warning: bool
    """Lag above the source's `lag_warning_bytes`."""
    last_batch_at: datetime | None
    """When the last batch committed in the warehouse."""
    tables: list[TableStatus] = field(default_factory=list)
    """Per table."""

    @property
    def needs_attention(self) -> list[str]:
        """Reasons a person should look at this source (empty when all is well)."""
        reasons = [f"{t.table}: {t.detail}" for t in self.tables if t.status == "drift"]
        if self.lag_warning:
            reasons.append(f"slot lag {self.lag_bytes} bytes is above the warning threshold")
        if not self.slot_exists and self.tables:
            reasons.append(f"replication slot {self.slot} is missing: the next run re-snapshots")
        return reasons

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for artifacts, events and `--json`)."""
        data = asdict(self)
        data["needs_attention"] = self.needs_attention
        return data


def cdc_status(replicator: Replicator) -> CdcStatus:
    """The slot as PostgreSQL shows it and the tables as the warehouse holds them (row
    counts of all tables in one query)."""
    with replicator.db.session() as pg, replicator.db.errors(None, "reading the slot of"):
        slot = slot_info(pg, replicator.slot)
    with replicator.warehouse.reader() as conn:
        states = read_states(conn, replicator.source)
        counts = replicator.warehouse.row_counts(conn, replicator.schema) if states else {}
    tables = [
        TableStatus(
            table=name,
            status=state.status,
            rows=counts.get((replicator.schema, name)),
            inserts=state.inserts,
            updates=state.updates,
            deletes=state.deletes,
            truncates=state.truncates,
            applied_lsn=format_lsn(state.applied_lsn),
            snapshot_at=state.snapshot_at,
            last_batch_at=state.last_batch_at,
            detail=state.detail,
        )
        for name, state in sorted(states.items())
    ]
    batch_times = [t.last_batch_at for t in tables if t.last_batch_at is not None]
    lag = slot.lag_bytes if slot else None
    return CdcStatus(
        source=replicator.source,
        slot=replicator.slot,
        slot_exists=slot is not None,
        confirmed_lsn=format_lsn(slot.confirmed_lsn) if slot else None,
        lag_bytes=lag,
        retained_bytes=slot.retained_bytes if slot else None,
        lag_warning=lag is not None and lag > replicator.config.lag_warning_bytes,
        last_batch_at=max(batch_times) if batch_times else None,
        tables=tables,
    )


@dataclass(frozen=True)
class ColumnHealth:
    """One column: its live warehouse type against the type the source reports."""

    table: str
    """Table (entity) name."""
    column: str
    """Column name."""
    live_type: str | None
    """Type in the warehouse now (None: the warehouse lacks the column)."""
    expected_type: str | None
    """Warehouse type of the source's column now (None: the source dropped it)."""
    status: Literal["match", "drift"]
    """match, or drift when the two differ."""


def schema_health(replicator: Replicator) -> list[ColumnHealth]:
    """Every column of every replicated table, live warehouse type against expected."""
    with replicator.warehouse.reader() as conn:
        tables = sorted(read_states(conn, replicator.source))
        lake = table_columns(conn)
    live = {table: lake.get((replicator.schema, table), {}) for table in tables}
    rows: list[ColumnHealth] = []
    with replicator.db.session() as pg, replicator.db.errors(None, "reading the catalog of"):
        for table in tables:
            info = table_info(pg, replicator.config.schema_name, table)
            expected = {c.name: c.warehouse_type for c in info.columns} if info else {}
            for column in [*expected, *(c for c in live[table] if c not in expected)]:
                if column.startswith("_hw_"):
                    continue
                have, want = live[table].get(column), expected.get(column)
                ok = have is not None and want is not None and same_type(have, want)
                rows.append(
                    ColumnHealth(table, column, have, want, "match" if ok else "drift")
                )
    return rows
