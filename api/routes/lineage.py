"""Lineage over the API: the DAG of raw tables, models and consoles, column lineage of one
node, and the lineage of any SQL statement."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import Context
from api.errors import ApiError, not_found
from api.routes.catalog import node_ref, project_catalog, unknown_node
from api.schemas.catalog import (
    ColumnLineageOut,
    ColumnLinkOut,
    LineageEdgeOut,
    LineageNodeOut,
    LineageOut,
    NodeColumnOut,
    SqlLineageIn,
    SqlLineageOut,
)
from headwater.catalog.catalog import build_catalog
from headwater.catalog.column_graph import warehouse_schema
from headwater.catalog.consoles import load_project_catalog
from headwater.catalog.lineage import Direction, UnknownNodeError
from headwater.catalog.node_columns import ColumnLink, NoColumnsError, NodeColumns, node_columns
from headwater.catalog.sql_lineage import sql_lineage
from headwater.config import Project
from headwater.warehouse import Warehouse

router = APIRouter(route_class=GuardedRoute, tags=["lineage"])


@router.get("/api/catalog/lineage", openapi_extra=requires("source.view"))
async def get_lineage(
    context: Context,
    node: Annotated[
        str | None,
        Query(description="Only the part around this node (id, name or `schema.table`)."),
    ] = None,
    direction: Annotated[
        Direction, Query(description="With `node`: upstream, downstream or both ways.")
    ] = "both",
    depth: Annotated[
        int | None, Query(ge=0, description="With `node`: at most this many edges away.")
    ] = None,
) -> LineageOut:
    """The lineage DAG as nodes and edges: raw tables (dbt sources, and `table` nodes for
    raw tables dbt does not declare), seeds, snapshots, models and consoles (`console:<name>`,
    read tables as parents; a console whose SQL cannot be analysed has an `error`). With
    `node`, only the nodes within `depth` edges of it in `direction`, and the edges between
    them."""
    graph = (await project_catalog(context)).graph
    if node is not None:
        try:
            graph = graph.subgraph(node, direction, depth)
        except UnknownNodeError as exc:
            raise unknown_node(exc) from None
    elif depth is not None or direction != "both":
        raise ApiError(400, "`direction` and `depth` need `node`: the node to start from")
    nodes = [
        LineageNodeOut(**node_ref(n).model_dump(), error=n.error)
        for _, n in sorted(graph.nodes.items())
    ]
    edges = [LineageEdgeOut(parent=e.parent, child=e.child) for e in graph.edges]
    return LineageOut(nodes=nodes, edges=edges)


@router.get("/api/catalog/lineage/columns/{node}", openapi_extra=requires("source.view"))
async def get_column_lineage(
    context: Context,
    node: str,
    column: Annotated[str | None, Query(description="Only this column.")] = None,
) -> ColumnLineageOut:
    """Column-level lineage of a raw table, model or console: for each column, the columns
    it is built from and the columns of models and consoles built from it (one hop each
    way), each with the kind of the edge: passthrough, rename, transformation, aggregation,
    filter or join_key (filter and join-key columns decide which rows exist, so they feed
    every column). 404 for an unknown node or column, or a node not in the warehouse yet."""
    try:
        result = await run_in_threadpool(_node_columns, context.project, node)
    except UnknownNodeError as exc:
        raise unknown_node(exc) from None
    except NoColumnsError as exc:
        raise ApiError(404, str(exc), "no_columns") from None
    columns = result.columns
    if column is not None:
        columns = tuple(c for c in columns if c.name.lower() == column.lower())
        if not columns:
            raise not_found("column", column, [c.name for c in result.columns])
    return ColumnLineageOut(
        node=node_ref(result.node),
        columns=[
            NodeColumnOut(
                name=c.name,
                data_type=c.data_type,
                upstream=[_link(link) for link in c.upstream],
                downstream=[_link(link) for link in c.downstream],
            )
            for c in columns
        ],
        problem=result.problem,
    )


def _node_columns(project: Project, node: str) -> NodeColumns:
    with Warehouse(project).reader() as conn:  # one session for the catalog and the types
        found = load_project_catalog(project, build_catalog(project, conn))
        schema = warehouse_schema(conn)
    return node_columns(found.graph, node, found.catalog.manifest, found.consoles, schema)


def _link(link: ColumnLink) -> ColumnLinkOut:
    return ColumnLinkOut(table=link.table, column=link.column, kind=link.kind, node=link.node)


_SQL_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The SQL does not parse, or is not exactly one statement "
          "(`invalid_sql`); `detail` has the parser's message."},
    413: {"description": "The request body is larger than 1 MB (`too_large`)."},
}


@router.post(
    "/api/lineage", openapi_extra=requires("query.execute"), responses=_SQL_ERRORS
)
async def lineage_of_sql(body: SqlLineageIn) -> SqlLineageOut:
    """Parse one SQL statement (nothing runs) and say what it reads and writes: statement
    type, tables read and written, columns used (resolved to `table.column` through
    aliases, CTEs and subqueries where the SQL allows), and CTE names. `dialect` is a
    sqlglot dialect (default duckdb; an unknown one is refused with 422 listing them).
    SQL that does not parse answers 400 `invalid_sql` with the parser's message.

    Needs `query.execute`, like `POST /api/query`: it is SQL tooling for the same callers,
    and it reads no data."""
    try:
        found = await run_in_threadpool(sql_lineage, body.sql, body.dialect)
    except ValueError as exc:
        raise ApiError(400, str(exc), "invalid_sql") from None
    return SqlLineageOut(
        statement_type=found.statement_type,
        tables_read=list(found.tables_read),
        tables_written=list(found.tables_written),
        columns_used=list(found.columns_used),
        ctes=list(found.ctes),
        dialect=found.dialect,
    )
