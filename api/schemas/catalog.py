"""The catalog and lineage as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator
from sqlglot.dialects.dialect import Dialects

from api.schemas.common import ApiModel, RequestModel
from headwater.catalog.column_lineage import EdgeKind
from headwater.governance.freshness import FreshnessState

DIALECTS = sorted(d.value for d in Dialects if d.value)
"""SQL dialects sqlglot reads (`POST /api/lineage`)."""

MatchKind = Literal["name", "partial_name", "column", "description"]


class NodeRef(ApiModel):
    """A node of the lineage DAG."""

    id: str
    """dbt unique_id, `table.<schema>.<name>` for a raw table dbt does not declare, or
    `console:<name>`."""
    name: str
    """What people call it: model name, `source.table`, `schema.table`, console name."""
    resource_type: str
    """source, table (raw table no dbt source declares), seed, snapshot, model or console."""
    relation: str | None
    """`schema.table` in the warehouse (a console's only when it materializes)."""


class LineageNodeOut(NodeRef):
    """A lineage node, with the error that kept its SQL from being analysed."""

    error: str | None
    """Consoles: why their SQL could not be read or parsed (their parents are then unknown)."""


class LineageEdgeOut(ApiModel):
    """`parent` is read by `child`."""

    parent: str
    """Id of the upstream node."""
    child: str
    """Id of the downstream node."""


class LineageOut(ApiModel):
    """The lineage DAG, or the part of it around one node."""

    nodes: list[LineageNodeOut]
    """Nodes sorted by id."""
    edges: list[LineageEdgeOut]
    """Edges between them, sorted by parent then child."""


class ImpactOut(ApiModel):
    """A node downstream of the one asked about."""

    node: NodeRef
    """The affected node."""
    distance: int
    """Fewest edges from the node asked about."""


class TestOut(ApiModel):
    """A dbt test with its last result."""

    __test__ = False  # not a pytest test class

    name: str
    """Test node name."""
    test_name: str
    """unique, not_null, relationships, accepted_values or the singular test's name."""
    column: str | None
    """The column tested, for column tests."""
    status: str | None
    """Last result: pass, fail, warn, error, skipped; null if it has not run."""
    failures: int | None
    """Failing rows in the last run."""
    last_run: datetime | None
    """When it last ran."""


class ColumnOut(ApiModel):
    """A column with its type, documentation and tests."""

    name: str
    """Column name."""
    data_type: str | None
    """Warehouse type, else the type dbt's YAML declares."""
    description: str
    """From dbt's YAML ('' when none)."""
    tests: list[TestOut]
    """Tests on this column."""


class EntryOut(ApiModel):
    """A dbt model, seed or snapshot, or a raw table."""

    id: str
    """dbt unique_id, or `table.<schema>.<name>` for a raw table dbt does not declare."""
    kind: str
    """model, seed, snapshot or raw_table."""
    name: str
    """Model name (`source.table` for a declared raw table)."""
    relation: str
    """`schema.table` in the warehouse."""
    description: str
    """From dbt ('' when none)."""
    materialized: str | None
    """table, view, incremental, seed, ... (null for raw tables)."""
    last_status: str | None
    """dbt's status of its last build (success, error, skipped); null if never built."""
    last_updated: datetime | None
    """Last successful build (dbt nodes) or load (raw tables)."""
    row_count: int | None
    """Rows in the warehouse (null for views and missing tables)."""
    owner: str | None
    """meta.owner from dbt."""
    tags: list[str]
    """dbt tags."""
    in_warehouse: bool
    """The table exists in the warehouse now."""


class EntryDetail(EntryOut):
    """An entry with its columns, tests, SQL and neighbours."""

    columns: list[ColumnOut]
    """Its columns: the warehouse's in table order, then documented ones it lacks."""
    tests: list[TestOut]
    """Every dbt test on it, column tests included."""
    raw_sql: str | None
    """SQL as written in the dbt project (null for raw tables)."""
    compiled_sql: str | None
    """SQL dbt ran, when compiled."""
    upstream: list[NodeRef]
    """Nodes it reads directly."""
    downstream: list[NodeRef]
    """Nodes that read it directly, consoles included."""


class SearchHitOut(ApiModel):
    """A raw table, dbt node or console matching the search."""

    kind: str
    """raw_table, model, seed, snapshot or console."""
    id: str
    """Catalog id, or `console:<name>`."""
    name: str
    """What people call it."""
    relation: str | None
    """`schema.table` in the warehouse, when it has one."""
    description: str
    """Its description ('' when none)."""
    match: MatchKind
    """Why it matched: exact name, part of the name, a column name (for a console: a table
    it reads), or the description (for a console: also its SQL)."""


class ColumnLinkOut(ApiModel):
    """A column at the other end of a column-lineage edge."""

    table: str
    """`schema.table` (or `console:<name>` for a console that does not materialize)."""
    column: str
    """Column name (lower case)."""
    kind: EdgeKind
    """passthrough, rename, transformation, aggregation, filter or join_key."""
    node: str | None
    """Lineage id of `table`, when it is a known node."""


class NodeColumnOut(ApiModel):
    """A column with the columns it comes from and the columns built from it (one hop)."""

    name: str
    """Column name."""
    data_type: str | None
    """Warehouse type (null for a console that does not materialize)."""
    upstream: list[ColumnLinkOut]
    """Columns it is built from, and how."""
    downstream: list[ColumnLinkOut]
    """Columns of models and consoles built from it, and how."""


class ColumnLineageOut(ApiModel):
    """Column-level lineage of one node."""

    node: NodeRef
    """The node."""
    columns: list[NodeColumnOut]
    """Its columns in table order (only the one asked for with `?column=`)."""
    problem: str | None
    """Why the node's own SQL could not be analysed (its columns then have no upstream)."""


class SqlLineageIn(RequestModel):
    """One SQL statement to analyse (nothing runs)."""

    sql: str = Field(
        min_length=1,
        description="One SQL statement: SELECT, INSERT, CREATE TABLE AS, UPDATE, MERGE, ...",
        examples=["WITH o AS (SELECT * FROM raw_orders.orders) SELECT status, count(*) FROM o "
                  "GROUP BY 1"],
    )
    dialect: str = Field(
        default="duckdb",
        description=f"sqlglot dialect to parse it as: {', '.join(DIALECTS)}.",
    )

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        name = value.strip().lower()
        if name not in DIALECTS:
            raise ValueError(f"unknown dialect '{value}'; known: {', '.join(DIALECTS)}")
        return name


class SqlLineageOut(ApiModel):
    """What one SQL statement reads and writes."""

    statement_type: str
    """select, insert, create_table_as, create_table, create_view, update, delete, merge, ..."""
    tables_read: list[str]
    """Tables and views read, as written (`schema.table`), sorted; CTEs are not tables."""
    tables_written: list[str]
    """Tables the statement creates or changes."""
    columns_used: list[str]
    """Columns referenced: `table.column` when they resolve to a base table, else `column`."""
    ctes: list[str]
    """CTE names, in order."""
    dialect: str
    """The dialect it was parsed as."""


class SummaryColumn(ApiModel):
    """A column of the summary."""

    name: str
    """Column name."""
    type: str | None
    """Warehouse type (else the type dbt declares)."""
    description: str
    """From dbt ('' when none)."""
    pii: bool
    """The column holds personal data (found by a scan, inherited through column lineage,
    or set by an override)."""
    pii_kinds: list[str]
    """email, phone, name, ... (empty when not PII)."""


class SummaryTable(ApiModel):
    """A raw table or dbt node, in a few lines."""

    relation: str
    """`schema.table` to query."""
    kind: str
    """raw_table, model, seed or snapshot."""
    name: str
    """Catalog name."""
    description: str
    """From dbt ('' when none)."""
    materialized: str | None
    """dbt materialization (null for raw tables)."""
    in_warehouse: bool
    """The table exists in the warehouse now."""
    row_count: int | None
    """Rows (null for views and missing tables)."""
    last_updated: datetime | None
    """Raw table: last successful load; dbt node: last successful build."""
    sources: list[str]
    """Project sources it holds or is built from."""
    freshness: FreshnessState | None
    """The worst freshness among `sources`: stale, never_synced, fresh or unmonitored
    (null: no sources, or their freshness is unknown)."""
    stale: bool | None
    """One of `sources` is stale; null when none of them is monitored and synced."""
    stale_sources: list[str]
    """The stale ones among `sources`."""
    oldest_sync: datetime | None
    """Oldest last successful sync among `sources`."""
    pii: bool
    """Some column holds personal data."""
    columns: list[SummaryColumn]
    """Columns in table order."""


class SummaryOut(ApiModel):
    """Every raw table and dbt node in one document."""

    generated_at: datetime
    """When this summary was made."""
    tables: list[SummaryTable]
    """Raw tables (by relation), then dbt nodes (by name)."""
    total: int
    """How many tables."""
    warnings: list[str]
    """Inputs that could not be read (e.g. Prefect did not answer: freshness unknown)."""
