"""What a change-data-capture connector hands to the warehouse merge.

The connector (e.g. `connectors/postgres_cdc`) decodes the source's change stream and
reduces it per table and primary key, last writer wins in commit order; the core merges the
result into `raw_<source>.<table>`. Values travel as the source's text form, and each column
says how DuckDB turns that text into the warehouse type, so one cast path serves both the
snapshot and the stream.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

OP_UPSERT = "U"
"""The key's final state in the batch is this row (insert or update)."""
OP_DELETE = "D"
"""The key was deleted (its last change in the batch)."""

META_OP = "_hw_op"
"""Batch column: OP_UPSERT or OP_DELETE."""
META_LSN = "_hw_lsn"
"""Batch and warehouse column (BIGINT): end LSN of the source transaction of the change."""
META_COMMITTED_AT = "_hw_committed_at"
"""Batch column (timestamp, UTC): the source transaction's commit time."""
META_UNRESOLVED = "_hw_unresolved"
"""Batch column (list of text): columns whose value the batch does not carry (an unchanged
TOASTed value, or every non-key column of a delete that only sent its key); the merge takes
them from the warehouse row."""
META_RESOLVE_FROM = "_hw_resolve_from"
"""Batch column (list of text, or null): the key (in key order) of the warehouse row that
holds the META_UNRESOLVED values, when that is not the row's own key: after an update that
changed the key, the unchanged values are still stored under the old one."""
UPDATED_AT = "_hw_updated_at"
"""Warehouse column: commit time of the source transaction that wrote the row."""
DELETED_AT = "_hw_deleted_at"
"""Warehouse column: commit time of the delete (soft deletes); NULL for live rows."""
WAREHOUSE_META_COLUMNS: tuple[tuple[str, str], ...] = (
    (META_LSN, "BIGINT"),
    (UPDATED_AT, "TIMESTAMPTZ"),
    (DELETED_AT, "TIMESTAMPTZ"),
)
"""Columns every CDC warehouse table carries after the source's own, with their types."""


@dataclass(frozen=True)
class SourceColumn:
    """One column of a source table as the source reports it now."""

    name: str
    """Column name (same in the warehouse)."""
    source_type: str
    """The source's type, e.g. `numeric(12,2)`, `character varying(40)`, `text[]`."""
    warehouse_type: str
    """The DuckDB type it maps to, e.g. `DECIMAL(12,2)`, `VARCHAR`, `VARCHAR[]`."""
    text_cast: str
    """DuckDB expression turning the text form into `warehouse_type`; `{}` stands for the
    column, e.g. `CAST({} AS DECIMAL(12,2))` or `from_hex(substr({}, 3))`."""
    primary_key: bool = False
    """Part of the key the merge upserts by."""


@dataclass(frozen=True)
class TableChanges:
    """The reduced changes of one table in one batch: at most one row per key."""

    table: str
    """Source (and warehouse) table name."""
    columns: list[SourceColumn]
    """The table's columns as the source reported them last in the batch."""
    rows: pa.Table
    """META_OP, META_LSN, META_COMMITTED_AT, META_UNRESOLVED, META_RESOLVE_FROM, then one
    `string` column per
    source column holding its text form (null = SQL NULL). Deletes carry the key columns,
    plus the other columns when the batch saw the row's values (null otherwise, listed in
    META_UNRESOLVED)."""
    truncated: bool = False
    """The table was truncated in the batch before these rows: empty it first."""
    counts: dict[str, int] = field(default_factory=dict)
    """Changes seen before reduction, per operation: insert, update, delete, truncate."""

    @property
    def key(self) -> list[str]:
        """Primary-key column names, in table order."""
        return [column.name for column in self.columns if column.primary_key]


@dataclass(frozen=True)
class ChangeBatch:
    """Everything one read of the change stream returned, ready to merge."""

    tables: dict[str, TableChanges]
    """Table name -> its reduced changes (only tables that changed)."""
    end_lsn: int
    """End LSN of the last whole transaction in the batch: confirm up to here once merged."""
    transactions: int
    """Source transactions in the batch."""
    last_commit_at: float | None = None
    """Commit time (epoch seconds) of the batch's last transaction."""
