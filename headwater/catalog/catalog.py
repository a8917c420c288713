"""The data catalog: every raw table, dbt model and seed with columns, tests, counts and times.

Two inputs, each optional: a DuckDB connection with the warehouse attached (what exists, its
column types, row counts, dlt load times) and a dbt manifest (descriptions, tests, owners,
SQL, build results). Raw tables show up even before dbt has run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime

import duckdb

from headwater.catalog.lineage import LineageGraph, LineageNode, UnknownNodeError, model_lineage
from headwater.catalog.manifest import Manifest, ManifestNode, ManifestTest, load_manifest
from headwater.catalog.tables import TableKey, WarehouseTable, warehouse_tables
from headwater.config.project import Project
from headwater.warehouse import LAKE, Warehouse

RAW_PREFIX = "raw_"
"""Schemas holding synced source data."""
DBT_KINDS = ("model", "seed", "snapshot")
"""dbt resource types listed as their own catalog entries (sources merge into raw tables)."""

@dataclass(frozen=True)
class CatalogTest:
    """A dbt test on a catalog entry, with its last result."""

    id: str
    """dbt unique_id of the test."""
    name: str
    """Test node name."""
    test_name: str
    """unique, not_null, relationships, accepted_values or the singular test's name."""
    column: str | None
    """The column tested, for column tests."""
    status: str | None
    """Last result: pass, fail, warn, error, skipped; None if it has not run."""
    failures: int | None
    """Failing rows in the last run."""
    last_run: datetime | None
    """When it last ran."""


@dataclass(frozen=True)
class CatalogColumn:
    """A column of a catalog entry."""

    name: str
    """Column name."""
    data_type: str | None
    """Warehouse type, else the type declared in dbt's YAML."""
    description: str
    """Description from dbt's YAML ('' when none)."""
    tests: tuple[CatalogTest, ...] = ()
    """Tests on this column."""


@dataclass(frozen=True)
class CatalogEntry:
    """A raw table, dbt model, seed or snapshot."""

    id: str
    """dbt unique_id, or `table.<schema>.<name>` for a raw table dbt does not declare."""
    kind: str
    """raw_table, model, seed or snapshot."""
    name: str
    """Table or model name (`source.table` for a declared raw table)."""
    schema: str | None
    """Warehouse schema."""
    table: str
    """Table name in the warehouse."""
    description: str
    """Description from dbt ('' when none)."""
    columns: tuple[CatalogColumn, ...]
    """Columns: the warehouse's, then documented ones it lacks."""
    tests: tuple[CatalogTest, ...]
    """Every dbt test on the entry (column tests included)."""
    row_count: int | None
    """Rows in the warehouse (None for views and missing tables)."""
    last_updated: datetime | None
    """Raw tables: last successful dlt load; dbt nodes: last successful build."""
    last_status: str | None
    """dbt's last status for the node (success, error, skipped), if it ran."""
    owner: str | None
    """meta.owner from dbt."""
    tags: tuple[str, ...]
    """dbt tags."""
    materialized: str | None
    """dbt materialization (table, view, incremental, seed, ...)."""
    in_warehouse: bool
    """The table exists in the warehouse now."""

    @property
    def relation(self) -> str:
        """`schema.table`."""
        return f"{self.schema}.{self.table}" if self.schema else self.table


@dataclass(frozen=True)
class ModelDetails:
    """A catalog entry with its SQL and neighbours."""

    entry: CatalogEntry
    """The entry itself."""
    raw_sql: str | None
    """SQL as written in the dbt project (None for raw tables)."""
    compiled_sql: str | None
    """SQL dbt ran, when compiled."""
    compiled_path: str | None
    """Where dbt wrote the compiled SQL."""
    parents: tuple[LineageNode, ...]
    """Nodes it reads."""
    children: tuple[LineageNode, ...]
    """Nodes that read it."""


@dataclass(frozen=True)
class Catalog:
    """All entries, plus the manifest and model lineage they came from."""

    entries: tuple[CatalogEntry, ...]
    """Raw tables first (sorted by `schema.table`), then dbt nodes (sorted by name)."""
    manifest: Manifest | None = None
    """The dbt manifest used, if any."""
    lineage: LineageGraph | None = None
    """Model lineage of the manifest, if any."""

    def entry(self, ref: str) -> CatalogEntry:
        """The entry with id, name or `schema.table` `ref` (case-insensitive)."""
        wanted = ref.lower()
        for key in ("id", "name", "relation"):
            found = [e for e in self.entries if str(getattr(e, key)).lower() == wanted]
            if found:
                return found[0]
        known = sorted({e.name for e in self.entries} | {e.relation for e in self.entries})
        close = difflib.get_close_matches(ref, known, n=5, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f" ({len(known)} known)"
        raise UnknownNodeError(f"no catalog entry named '{ref}'{hint}")

    def search(self, query: str) -> list[CatalogEntry]:
        """Entries whose name, column names or descriptions contain `query` (any case): name
        matches first (exact before partial), then column names, then descriptions."""
        term = query.strip().lower()
        ranked = [(_rank(e, term), e.name, e.id, e) for e in self.entries]
        found = [(rank, name, uid, e) for rank, name, uid, e in ranked if rank is not None]
        return [e for *_, e in sorted(found, key=lambda r: r[:3])]

    def details(self, ref: str) -> ModelDetails:
        """Raw and compiled SQL, parents and children of entry `ref`."""
        entry = self.entry(ref)
        node = self.manifest.nodes.get(entry.id) if self.manifest else None
        parents: tuple[LineageNode, ...] = ()
        children: tuple[LineageNode, ...] = ()
        if self.lineage is not None and entry.id in self.lineage.nodes:
            nodes = self.lineage.nodes
            parents = tuple(nodes[p] for p in self.lineage.parents.get(entry.id, ()))
            children = tuple(nodes[c] for c in self.lineage.children.get(entry.id, ()))
        return ModelDetails(
            entry=entry,
            raw_sql=node.raw_code if node else None,
            compiled_sql=node.compiled_code if node else None,
            compiled_path=node.compiled_path if node else None,
            parents=parents,
            children=children,
        )


def build_catalog(project: Project, conn: duckdb.DuckDBPyConnection | None = None) -> Catalog:
    """The project's catalog: its warehouse plus `.headwater/dbt/target/manifest.json` when
    dbt has run (without it, raw tables only). Reads the warehouse through `conn` when
    given, else through a read-only session of its own."""
    target = project.state_dir / "dbt" / "target"
    manifest = load_manifest(target) if (target / "manifest.json").is_file() else None
    if conn is not None:
        return catalog_from(conn, manifest)
    with Warehouse(project).reader() as reader:
        return catalog_from(reader, manifest)


def catalog_from(
    conn: duckdb.DuckDBPyConnection | None, manifest: Manifest | None, lake: str = LAKE
) -> Catalog:
    """The catalog of the warehouse behind `conn` (attached as `lake`) and of `manifest`."""
    nodes = list(manifest.nodes.values()) if manifest else []
    catalogs = {lake} | {n.database for n in nodes if n.database}
    tables = warehouse_tables(conn, catalogs) if conn is not None else {}
    sources = {_key(n, lake): n for n in nodes if n.resource_type == "source"}
    raw: list[CatalogEntry] = []
    for key, table in tables.items():
        if key[0] == lake.lower() and table.schema.lower().startswith(RAW_PREFIX):
            raw.append(_entry(sources.pop(key, None), table, manifest, "raw_table"))
    raw += [_entry(node, None, manifest, "raw_table") for node in sources.values()]
    dbt = [
        _entry(n, tables.get(_key(n, lake)), manifest, n.resource_type)
        for n in nodes
        if n.resource_type in DBT_KINDS
    ]
    entries = sorted(raw, key=lambda e: e.relation) + sorted(dbt, key=lambda e: e.name)
    return Catalog(tuple(entries), manifest, model_lineage(manifest) if manifest else None)


def _entry(
    node: ManifestNode | None, table: WarehouseTable | None, manifest: Manifest | None, kind: str
) -> CatalogEntry:
    tests = tuple(_test(t) for t in manifest.tests_of(node.unique_id)) if manifest and node else ()
    docs = {c.name.lower(): c for c in node.columns} if node else {}
    names: list[tuple[str, str | None]] = list(table.columns) if table else []
    names += [(d.name, None) for k, d in docs.items() if k not in {n.lower() for n, _ in names}]
    columns = tuple(
        CatalogColumn(
            name=name,
            data_type=data_type or (docs[name.lower()].data_type if name.lower() in docs else None),
            description=docs[name.lower()].description if name.lower() in docs else "",
            tests=tuple(t for t in tests if (t.column or "").lower() == name.lower()),
        )
        for name, data_type in names
    )
    result = node.last_result if node else None
    built = result.completed_at if result and result.status == "success" else None
    schema = table.schema if table else (node.schema if node else None)
    table_name = table.name if table else (node.table if node else "")
    return CatalogEntry(
        id=node.unique_id if node else f"table.{schema}.{table_name}",
        kind=kind,
        name=node.display_name if node else table_name,
        schema=schema,
        table=table_name,
        description=node.description if node else "",
        columns=columns,
        tests=tests,
        row_count=table.row_count if table else None,
        last_updated=(table.last_loaded if table else None) if kind == "raw_table" else built,
        last_status=result.status if result else None,
        owner=node.owner if node else None,
        tags=node.tags if node else (),
        materialized=node.materialized if node else None,
        in_warehouse=table is not None,
    )


def _test(test: ManifestTest) -> CatalogTest:
    result = test.last_result
    return CatalogTest(
        id=test.unique_id,
        name=test.name,
        test_name=test.test_name,
        column=test.column_name,
        status=result.status if result else None,
        failures=result.failures if result else None,
        last_run=result.completed_at if result else None,
    )


def match_rank(entry: CatalogEntry, query: str) -> int | None:
    """How `entry` matches search `query` (any case): 0 exact name, 1 name contains it,
    2 a column name contains it, 3 a description does; None for no match (an empty query
    matches everything with 0)."""
    return _rank(entry, query.strip().lower())


def _rank(entry: CatalogEntry, term: str) -> int | None:
    names = {entry.name.lower(), entry.table.lower(), entry.relation.lower()}
    if not term or term in names:
        return 0
    if any(term in name for name in names):
        return 1
    if any(term in c.name.lower() for c in entry.columns):
        return 2
    texts = [entry.description, *(c.description for c in entry.columns)]
    return 3 if any(term in text.lower() for text in texts) else None


def _key(node: ManifestNode, lake: str) -> TableKey:
    return ((node.database or lake).lower(), (node.schema or "").lower(), node.table.lower())
