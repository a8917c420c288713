"""Consoles in the catalog: lineage nodes fed by the tables their SQL reads, and search hits.

A console (project.yml `consoles:`) is saved SQL. Its read tables, found with sqlglot
(`sql_lineage`), become its parents in the lineage DAG: `raw_orders.orders` resolves to the
source (or raw table) node with that relation, a model's relation to the model. Tables that
match no node (another database, a typo, a table dropped since) are left out: the console
still shows, with the parents that are known. A console that `materialize`s writes
`consoles.<name>`, so consoles reading that table hang below it. SQL that cannot be read or
parsed gives a node with an `error`, never a broken graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from headwater.catalog.catalog import Catalog, build_catalog, match_rank
from headwater.catalog.lineage import LineageGraph, LineageNode, build_graph
from headwater.catalog.sql_lineage import sql_lineage
from headwater.config.consoles import ConsoleConfig
from headwater.config.project import Project
from headwater.consoles.definition import console_sql, materialized_table
from headwater.consoles.errors import ConsoleSqlFileError
from headwater.warehouse import LAKE

CONSOLE_ID_PREFIX = "console:"
"""Lineage ids of consoles: `console:<name>`."""
DEFAULT_SCHEMA = "main"
"""Schema an unqualified table name means in a warehouse session (`USE lake`)."""
RAW_TABLE_TYPE = "table"
"""Lineage resource type of a raw table that no dbt source declares."""


@dataclass(frozen=True)
class ConsoleInfo:
    """A console as the catalog sees it: its SQL and what that SQL reads."""

    name: str
    """Console name (key under `consoles:`)."""
    description: str
    """From project.yml ('' when none)."""
    sql: str | None
    """Its SQL (inline or from its file); None when the file cannot be read."""
    reads: tuple[str, ...]
    """Tables its SQL reads, as written (`raw_orders.orders`), sorted."""
    relation: str | None
    """`consoles.<name>` when it materializes its result, else None."""
    error: str | None
    """Why its SQL could not be read or parsed (then `reads` is empty)."""

    @property
    def node_id(self) -> str:
        """Its lineage id, `console:<name>`."""
        return f"{CONSOLE_ID_PREFIX}{self.name}"


@dataclass(frozen=True)
class SearchHit:
    """A catalog entry or console matching a search."""

    kind: str
    """raw_table, model, seed, snapshot or console."""
    id: str
    """Catalog id (dbt unique_id, `table.<schema>.<name>`) or `console:<name>`."""
    name: str
    """What people call it."""
    relation: str | None
    """`schema.table` in the warehouse, when it has one."""
    description: str
    """Its description ('' when none)."""
    rank: int
    """0 exact name, 1 name contains the term, 2 a column (or, for a console, a table it
    reads) contains it, 3 a description (or the console's SQL) contains it."""


def console_info(project: Project, name: str, config: ConsoleConfig) -> ConsoleInfo:
    """What console `name` reads; read or parse failures become its `error`."""
    relation = materialized_table(name) if config.materialize else None
    try:
        sql = console_sql(project, name)
    except ConsoleSqlFileError as exc:
        return ConsoleInfo(name, config.description, None, (), relation, str(exc))
    try:
        reads = sql_lineage(sql).tables_read
    except ValueError as exc:
        return ConsoleInfo(name, config.description, sql, (), relation, str(exc))
    return ConsoleInfo(name, config.description, sql, tuple(reads), relation, None)


def project_consoles(project: Project) -> list[ConsoleInfo]:
    """Every console of project.yml with what it reads, sorted by name."""
    consoles = project.config.consoles
    return [console_info(project, name, consoles[name]) for name in sorted(consoles)]


def resolve_table(table: str, relations: Mapping[str, str]) -> str | None:
    """The node id for `table` as written in SQL, given `schema.table` (lower case) -> id:
    `lake.s.t` and `s.t` are `s.t`, a bare `t` is `main.t`; None when nothing matches."""
    parts = table.lower().split(".")
    if len(parts) == 3 and parts[0] == LAKE:
        parts = parts[1:]
    if len(parts) == 1:
        parts = [DEFAULT_SCHEMA, *parts]
    return relations.get(".".join(parts)) if len(parts) == 2 else None


def project_lineage(catalog: Catalog, consoles: Iterable[ConsoleInfo] = ()) -> LineageGraph:
    """The whole DAG: dbt's sources, seeds, snapshots and models (from the catalog's
    manifest), raw tables no dbt source declares (resource type `table`), and consoles with
    edges from the tables they read."""
    base = catalog.lineage
    nodes: dict[str, LineageNode] = dict(base.nodes) if base else {}
    parents: dict[str, tuple[str, ...]] = dict(base.parents) if base else {}
    declared = {n.relation.lower() for n in nodes.values() if n.relation}
    for entry in catalog.entries:
        undeclared = entry.id not in nodes and entry.relation.lower() not in declared
        if entry.kind == "raw_table" and undeclared:
            nodes[entry.id] = LineageNode(entry.id, entry.relation, RAW_TABLE_TYPE, entry.relation)
    found = list(consoles)
    for console in found:
        nodes[console.node_id] = LineageNode(
            console.node_id, console.name, "console", console.relation, console.error
        )
    relations: dict[str, str] = {}
    # Sorted by id so that a relation claimed twice (a dbt source and an undeclared table
    # cannot both claim one, but hand-made manifests can) always resolves the same way.
    for node in sorted(nodes.values(), key=lambda n: n.id):
        if node.relation:
            relations.setdefault(node.relation.lower(), node.id)
    for console in found:
        resolved = (resolve_table(table, relations) for table in console.reads)
        parents[console.node_id] = tuple(sorted({r for r in resolved if r is not None}))
    return build_graph(nodes.values(), parents)


@dataclass(frozen=True)
class ProjectCatalog:
    """The catalog, the consoles and the whole lineage DAG of a project, read together."""

    catalog: Catalog
    """Raw tables and dbt nodes."""
    consoles: tuple[ConsoleInfo, ...]
    """Consoles with what they read."""
    graph: LineageGraph
    """Sources, raw tables, models and consoles (`project_lineage`)."""


def load_project_catalog(project: Project, catalog: Catalog | None = None) -> ProjectCatalog:
    """The project's catalog (built unless given: that opens a read-only warehouse session),
    consoles and lineage DAG."""
    catalog = catalog or build_catalog(project)
    consoles = tuple(project_consoles(project))
    return ProjectCatalog(catalog, consoles, project_lineage(catalog, consoles))


def search(catalog: Catalog, consoles: Iterable[ConsoleInfo], query: str) -> list[SearchHit]:
    """Catalog entries and consoles matching `query` (any case), best rank first, then by
    name; an empty query matches everything."""
    hits = [
        SearchHit(e.kind, e.id, e.name, e.relation, e.description, rank)
        for e in catalog.entries
        if (rank := match_rank(e, query)) is not None
    ]
    hits += [
        SearchHit("console", c.node_id, c.name, c.relation, c.description, rank)
        for c in consoles
        if (rank := _console_rank(c, query.strip().lower())) is not None
    ]
    return sorted(hits, key=lambda h: (h.rank, h.name, h.id))


def _console_rank(console: ConsoleInfo, term: str) -> int | None:
    names = {console.name.lower(), console.node_id.lower(), (console.relation or "").lower()}
    names.discard("")
    if not term or term in names:
        return 0
    if any(term in name for name in names):
        return 1
    if any(term in table.lower() for table in console.reads):
        return 2
    texts = (console.description.lower(), (console.sql or "").lower())
    return 3 if any(term in text for text in texts) else None
