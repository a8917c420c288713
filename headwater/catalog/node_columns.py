"""Column lineage of one lineage node: for each of its columns, the columns it is built from
and the columns built from it, one hop each way, with the kind of every edge.

Edges come from every dbt model's compiled SQL (`ColumnGraph`) and from every console's SQL,
so a raw column's downstream list names the consoles that use it too. A materialized
console's columns are `consoles.<name>` columns; another console's are `console:<name>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from headwater.catalog.column_graph import ColumnGraph
from headwater.catalog.column_lineage import ColumnEdge, EdgeKind, column_lineage, model_columns
from headwater.catalog.consoles import ConsoleInfo
from headwater.catalog.lineage import LineageGraph, LineageNode
from headwater.catalog.manifest import Manifest
from headwater.errors import TerminalError


class NoColumnsError(TerminalError):
    """The node has no columns to show: not in the warehouse yet, or not a table."""


@dataclass(frozen=True)
class ColumnLink:
    """A column at the other end of an edge."""

    table: str
    """`schema.table` (or `console:<name>`) holding the column."""
    column: str
    """Column name (lower case)."""
    kind: EdgeKind
    """passthrough, rename, transformation, aggregation, filter or join_key."""
    node: str | None
    """Lineage id of `table`, when it is a known node."""


@dataclass(frozen=True)
class NodeColumn:
    """A column of the node with its direct upstream and downstream columns."""

    name: str
    """Column name."""
    data_type: str | None
    """Warehouse type (None for a console that is not materialized)."""
    upstream: tuple[ColumnLink, ...]
    """Columns it is built from, and how."""
    downstream: tuple[ColumnLink, ...]
    """Columns built from it, and how."""


@dataclass(frozen=True)
class NodeColumns:
    """Column lineage of one node."""

    node: LineageNode
    """The node."""
    columns: tuple[NodeColumn, ...]
    """Its columns in table order."""
    problem: str | None
    """Why the node's own SQL could not be analysed (its columns then lack upstream)."""


def console_table(console: ConsoleInfo) -> str:
    """The table name a console's columns are known by in column edges."""
    return (console.relation or console.node_id).lower()


def project_column_graph(
    manifest: Manifest | None,
    consoles: Iterable[ConsoleInfo],
    schema: dict[str, dict[str, str]],
) -> ColumnGraph:
    """Column edges of every model and console; `problems` also names the consoles whose
    SQL could not be analysed (as `console:<name>`)."""
    edges: list[ColumnEdge] = []
    problems: dict[str, str] = {}
    for console in consoles:
        if console.sql is None or console.error:
            problems[console.node_id] = console.error or "no SQL"
            continue
        try:
            edges += column_lineage(console.sql, console_table(console), schema)
        except ValueError as exc:
            problems[console.node_id] = str(exc)
        except RecursionError:  # sqlglot recurses per nesting level
            problems[console.node_id] = "SQL nested too deeply to analyse"
    graph = ColumnGraph(manifest, schema, edges)
    graph.problems.update(problems)
    return graph


def node_columns(
    graph: LineageGraph,
    ref: str,
    manifest: Manifest | None,
    consoles: Iterable[ConsoleInfo],
    schema: dict[str, dict[str, str]],
) -> NodeColumns:
    """Column lineage of node `ref` (id, name or relation, as `LineageGraph.find` takes).

    `schema` is the warehouse's `schema.table` -> {column: type} (`warehouse_schema`).
    Raises UnknownNodeError for an unknown node, NoColumnsError when it has no columns."""
    node = graph.find(ref)
    found = list(consoles)
    columns_graph = project_column_graph(manifest, found, schema)
    edges, problems = columns_graph.edges, columns_graph.problems
    console = next((c for c in found if c.node_id == node.id), None)
    table = console_table(console) if console else (node.relation or "").lower()
    types: Mapping[str, str | None] | None = schema.get(table)
    if types is None and console is not None and console.sql and not console.error:
        try:  # a console that is not materialized: its output columns come from its SQL
            types = dict.fromkeys(model_columns(console.sql, schema))
        except (ValueError, RecursionError):
            types = None
    if types is None:
        if console is not None:
            raise NoColumnsError(f"console {node.name}: {problems.get(node.id, 'no columns')}")
        what = "loaded" if node.resource_type in ("source", "table") else "built"
        raise NoColumnsError(
            f"{node.name} is not in the warehouse (not {what} yet), so it has no columns"
            if node.relation
            else f"{node.name} is not a table, so it has no columns"
        )
    relations = {n.relation.lower(): n.id for n in graph.nodes.values() if n.relation}
    relations.update({console_table(c): c.node_id for c in found})
    into: dict[str, list[ColumnLink]] = {}
    out: dict[str, list[ColumnLink]] = {}
    for edge in edges:
        if edge.target.table == table:
            src = edge.source
            link = ColumnLink(src.table, src.column, edge.kind, relations.get(src.table))
            into.setdefault(edge.target.column, []).append(link)
        if edge.source.table == table:
            dst = edge.target
            node_id = relations.get(dst.table)
            out.setdefault(edge.source.column, []).append(
                ColumnLink(dst.table, dst.column, edge.kind, node_id)
            )
    columns = tuple(
        NodeColumn(
            name=name,
            data_type=data_type,
            upstream=tuple(sorted(into.get(name.lower(), ()), key=_order)),
            downstream=tuple(sorted(out.get(name.lower(), ()), key=_order)),
        )
        for name, data_type in types.items()
    )
    key = node.id if console else node.name
    return NodeColumns(node, columns, problems.get(key))


def _order(link: ColumnLink) -> tuple[str, str, str]:
    return (link.table, link.column, link.kind)
