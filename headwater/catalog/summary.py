"""A compact, machine-readable description of every raw table and dbt model, for scripts
and agents: columns with types and PII flags, row counts, when each was last loaded or
built, and how fresh the sources behind it are.

Freshness and PII are inputs, computed by the governance checks
(`headwater.governance.freshness.source_freshness`,
`headwater.governance.pii_lineage.pii_columns`), so this module only joins:
`build_summary(project, catalog, freshness, pii)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from headwater.catalog.catalog import Catalog, CatalogEntry
from headwater.catalog.lineage import LineageGraph
from headwater.config.project import Project
from headwater.errors import HeadwaterError
from headwater.governance.freshness import Freshness, FreshnessState
from headwater.store import MetadataStore
from headwater.warehouse import Warehouse

RAW_PREFIX = "raw_"
"""Schemas `raw_<source>` hold synced source data."""

PiiMarks = Mapping[str, Mapping[str, Sequence[str]]]
"""`schema.table` -> column -> the PII kinds found or inherited (any case)."""

_WORST: tuple[FreshnessState, ...] = ("stale", "never_synced", "fresh", "unmonitored")
"""Freshness states, most alarming first: a table is as fresh as its worst source."""


@dataclass(frozen=True)
class ColumnSummary:
    """One column."""

    name: str
    """Column name."""
    type: str | None
    """Warehouse type (else the type dbt documents)."""
    description: str
    """From dbt ('' when none)."""
    pii: tuple[str, ...]
    """PII kinds of the column (empty: none known)."""


@dataclass(frozen=True)
class TableSummary:
    """One raw table or dbt model."""

    relation: str
    """`schema.table` to query."""
    kind: str
    """raw_table, model, seed or snapshot."""
    name: str
    """Catalog name (`source.table` for a declared raw table, the model name)."""
    description: str
    """From dbt ('' when none)."""
    materialized: str | None
    """dbt materialization (None for raw tables)."""
    in_warehouse: bool
    """The table exists in the warehouse now."""
    row_count: int | None
    """Rows (None for views and missing tables: counting a view runs its query)."""
    last_updated: datetime | None
    """Raw table: last successful load; dbt node: last successful build."""
    sources: tuple[str, ...]
    """Project sources it holds or is built from."""
    freshness: FreshnessState | None
    """The worst state among `sources` (stale, never_synced, fresh, unmonitored); None
    when it comes from no source or their freshness is unknown."""
    stale: bool | None
    """Any of `sources` is stale; None when none of them is monitored and synced."""
    stale_sources: tuple[str, ...]
    """The stale ones among `sources`."""
    oldest_sync: datetime | None
    """The oldest last successful sync among `sources`: how old its data may be."""
    columns: tuple[ColumnSummary, ...]
    """Columns in table order."""

    @property
    def pii(self) -> bool:
        """Some column holds PII."""
        return any(column.pii for column in self.columns)


def source_of_schema(schema: str | None, sources: Sequence[str]) -> str | None:
    """The project source whose data lands in `schema` (`raw_orders` -> `orders`)."""
    if not schema or not schema.lower().startswith(RAW_PREFIX):
        return None
    name = schema[len(RAW_PREFIX) :]
    by_lower = {source.lower(): source for source in sources}
    return by_lower.get(name.lower())


def upstream_sources(
    entry: CatalogEntry, graph: LineageGraph | None, sources: Sequence[str]
) -> tuple[str, ...]:
    """Project sources behind `entry`: its own for a raw table, else those of every raw
    table upstream of it in `graph`."""
    own = source_of_schema(entry.schema, sources) if entry.kind == "raw_table" else None
    if own is not None:
        return (own,)
    if graph is None or entry.id not in graph.nodes:
        return ()
    upstream = graph.subgraph(entry.id, "upstream").nodes.values()
    found = {
        source_of_schema(node.relation.split(".", 1)[0], sources)
        for node in upstream
        if node.relation and "." in node.relation
    }
    return tuple(sorted(s for s in found if s is not None))


def build_summary(
    project: Project,
    catalog: Catalog,
    freshness: Mapping[str, Freshness],
    pii: PiiMarks,
    graph: LineageGraph | None = None,
) -> list[TableSummary]:
    """Every raw table and dbt node of `catalog`, in catalog order, with the freshness of
    the sources behind it (`freshness`: source name -> Freshness, as `source_freshness`
    answers; empty when unknown) and PII kinds per column (`pii`, as `pii_columns`
    answers). `graph` (default: the catalog's dbt lineage) finds a model's sources."""
    sources = sorted(project.config.sources)
    lineage = graph if graph is not None else catalog.lineage
    marks = {
        relation.lower(): {column.lower(): tuple(kinds) for column, kinds in columns.items()}
        for relation, columns in pii.items()
    }
    return [
        _table(entry, upstream_sources(entry, lineage, sources), freshness, marks)
        for entry in catalog.entries
    ]


def _table(
    entry: CatalogEntry,
    sources: tuple[str, ...],
    freshness: Mapping[str, Freshness],
    pii: PiiMarks,
) -> TableSummary:
    known = [(s, freshness[s]) for s in sources if s in freshness]
    states = {f.state for _, f in known}
    judged = [f.stale for _, f in known if f.state in ("fresh", "stale")]
    syncs = [f.last_success_at for _, f in known if f.last_success_at is not None]
    marks = pii.get(entry.relation.lower(), {})
    return TableSummary(
        relation=entry.relation,
        kind=entry.kind,
        name=entry.name,
        description=entry.description,
        materialized=entry.materialized if entry.kind != "raw_table" else None,
        in_warehouse=entry.in_warehouse,
        row_count=entry.row_count,
        last_updated=entry.last_updated,
        sources=sources,
        freshness=next((state for state in _WORST if state in states), None),
        stale=any(judged) if judged else None,
        stale_sources=tuple(s for s, f in known if f.state == "stale"),
        oldest_sync=min(syncs) if syncs else None,
        columns=tuple(
            ColumnSummary(
                name=column.name,
                type=column.data_type,
                description=column.description,
                pii=tuple(sorted(set(marks.get(column.name.lower(), ())))),
            )
            for column in entry.columns
        ),
    )


@dataclass(frozen=True)
class Summary:
    """The summary of a project, with what could not be found out."""

    tables: list[TableSummary]
    """Raw tables, then dbt nodes."""
    warnings: list[str]
    """Inputs that were unavailable (Prefect down: freshness unknown), one line each."""


def project_summary(project: Project, store: MetadataStore, prefect_api_url: str) -> Summary:
    """The summary of `project`: its catalog and lineage, each source's freshness from its
    sync runs in Prefect, and the effective PII columns from the metadata DB (scan
    findings, overrides, lineage into models). An input that fails leaves its part unknown
    and says why in `warnings`, rather than failing the whole summary."""
    from headwater.catalog.catalog import build_catalog
    from headwater.catalog.consoles import load_project_catalog
    from headwater.governance.freshness import source_freshness
    from headwater.governance.pii_lineage import pii_columns

    warnings: list[str] = []
    try:
        freshness = source_freshness(project, prefect_api_url)
    except HeadwaterError as exc:
        freshness = {}
        warnings.append(f"freshness unknown: {exc}")
    pii: PiiMarks
    with Warehouse(project).reader() as conn:
        found = load_project_catalog(project, build_catalog(project, conn))
        try:
            pii = pii_columns(project, store, conn)
        except HeadwaterError as exc:
            pii = {}
            warnings.append(f"PII flags unknown: {exc}")
    tables = build_summary(project, found.catalog, freshness, pii, found.graph)
    return Summary(tables, warnings)
