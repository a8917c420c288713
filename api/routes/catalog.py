"""`/api/catalog`: dbt models and raw tables with their docs, search, impact, and a summary
of every table for scripts and agents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import Context
from api.errors import ApiError
from api.schemas.catalog import (
    ColumnOut,
    EntryDetail,
    EntryOut,
    ImpactOut,
    MatchKind,
    NodeRef,
    SearchHitOut,
    SummaryColumn,
    SummaryOut,
    SummaryTable,
    TestOut,
)
from api.schemas.common import Page, Paging
from headwater.catalog.catalog import DBT_KINDS, CatalogEntry, CatalogTest
from headwater.catalog.consoles import ProjectCatalog, load_project_catalog, search
from headwater.catalog.lineage import LineageNode, UnknownNodeError
from headwater.catalog.summary import TableSummary, project_summary
from headwater.store import utcnow

router = APIRouter(route_class=GuardedRoute, tags=["catalog"])

_MATCHES: tuple[MatchKind, ...] = ("name", "partial_name", "column", "description")
"""Search ranks (0..3) as the API names them."""


async def project_catalog(context: Context) -> ProjectCatalog:
    """The project's catalog, consoles and lineage DAG, read now (off the event loop)."""
    return await run_in_threadpool(load_project_catalog, context.project)


def unknown_node(exc: UnknownNodeError) -> ApiError:
    """404 for a node or entry reference that matched nothing (the message lists close
    names)."""
    return ApiError(404, str(exc), "node_not_found")


def node_ref(node: LineageNode) -> NodeRef:
    """A lineage node as the API shows it."""
    return NodeRef(
        id=node.id, name=node.name, resource_type=node.resource_type, relation=node.relation
    )


def _test(test: CatalogTest) -> TestOut:
    return TestOut(
        name=test.name,
        test_name=test.test_name,
        column=test.column,
        status=test.status,
        failures=test.failures,
        last_run=test.last_run,
    )


def _entry_fields(entry: CatalogEntry) -> dict[str, object]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "name": entry.name,
        "relation": entry.relation,
        "description": entry.description,
        "materialized": entry.materialized,
        "last_status": entry.last_status,
        "last_updated": entry.last_updated,
        "row_count": entry.row_count,
        "owner": entry.owner,
        "tags": list(entry.tags),
        "in_warehouse": entry.in_warehouse,
    }


@router.get("/api/catalog/models", openapi_extra=requires("source.view"))
async def list_catalog_models(context: Context, paging: Paging) -> Page[EntryOut]:
    """dbt models, seeds and snapshots with description, materialization, last build status
    and time, and row count, sorted by name (raw tables: `GET /api/catalog/search`)."""
    catalog = (await project_catalog(context)).catalog
    entries = [e for e in catalog.entries if e.kind in DBT_KINDS]
    items = [EntryOut.model_validate(_entry_fields(e)) for e in paging.window(entries)]
    return Page[EntryOut](items=items, total=len(entries))


@router.get("/api/catalog/models/{name}", openapi_extra=requires("source.view"))
async def get_catalog_model(context: Context, name: str) -> EntryDetail:
    """One model (or seed, snapshot, raw table) by name, dbt unique_id or `schema.table`:
    description, columns with types, docs and tests, every test with its last status,
    materialization, the nodes it reads and that read it (consoles included), and its SQL
    as written and as compiled. 404 lists close names when nothing matches."""
    found = await project_catalog(context)
    try:
        details = found.catalog.details(name)
    except UnknownNodeError as exc:
        raise unknown_node(exc) from None
    entry, graph = details.entry, found.graph
    upstream = [graph.nodes[p] for p in graph.parents.get(entry.id, ())]
    downstream = [graph.nodes[c] for c in graph.children.get(entry.id, ())]
    columns = [
        ColumnOut(
            name=c.name,
            data_type=c.data_type,
            description=c.description,
            tests=[_test(t) for t in c.tests],
        )
        for c in entry.columns
    ]
    return EntryDetail.model_validate(
        {
            **_entry_fields(entry),
            "columns": columns,
            "tests": [_test(t) for t in entry.tests],
            "raw_sql": details.raw_sql,
            "compiled_sql": details.compiled_sql,
            "upstream": [node_ref(n) for n in upstream],
            "downstream": [node_ref(n) for n in downstream],
        }
    )


@router.get("/api/catalog/search", openapi_extra=requires("source.view"))
async def search_catalog(
    context: Context,
    paging: Paging,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Text to look for.")],
) -> Page[SearchHitOut]:
    """Raw tables, dbt models, seeds, snapshots and consoles whose name, columns (for a
    console: tables it reads), description (or console SQL) contain `q`, any case: exact
    names first, then partial names, columns, descriptions; `match` says which."""
    found = await project_catalog(context)
    hits = search(found.catalog, found.consoles, q)
    items = [
        SearchHitOut(
            kind=h.kind,
            id=h.id,
            name=h.name,
            relation=h.relation,
            description=h.description,
            match=_MATCHES[h.rank],
        )
        for h in paging.window(hits)
    ]
    return Page[SearchHitOut](items=items, total=len(hits))


@router.get("/api/catalog/impact/{name}", openapi_extra=requires("source.view"))
async def catalog_impact(context: Context, name: str, paging: Paging) -> Page[ImpactOut]:
    """Everything downstream of node `name` (id, name or `schema.table`: a raw table, model
    or console), each once with its distance in edges, nearest first: the models to rebuild
    and the consoles to rerun when it changes."""
    graph = (await project_catalog(context)).graph
    try:
        impact = graph.impact(name)
    except UnknownNodeError as exc:
        raise unknown_node(exc) from None
    items = [ImpactOut(node=node_ref(i.node), distance=i.distance) for i in paging.window(impact)]
    return Page[ImpactOut](items=items, total=len(impact))


@router.get("/api/catalog/summary", openapi_extra=requires("governance.view"))
async def catalog_summary(context: Context) -> SummaryOut:
    """Every raw table and dbt node in one compact document for scripts and agents:
    relation, kind, description, columns (name, type, PII flag and kinds), row count, last
    load or build, the project sources behind it and their freshness (the worst state of
    them: stale, never_synced, fresh, unmonitored). Freshness comes from the sync runs in
    Prefect, PII from the scans, overrides and column lineage; if one of them cannot be
    read, its fields are null or empty and `warnings` says why.

    Not paged: one call describes the whole warehouse. It needs `governance.view` rather
    than `source.view` because it carries governance findings (PII, staleness)."""
    summary = await run_in_threadpool(
        project_summary, context.project, context.store, context.prefect.api_url
    )
    return SummaryOut(
        generated_at=utcnow(),
        tables=[_summary_table(t) for t in summary.tables],
        total=len(summary.tables),
        warnings=summary.warnings,
    )


def _summary_table(table: TableSummary) -> SummaryTable:
    return SummaryTable(
        relation=table.relation,
        kind=table.kind,
        name=table.name,
        description=table.description,
        materialized=table.materialized,
        in_warehouse=table.in_warehouse,
        row_count=table.row_count,
        last_updated=table.last_updated,
        sources=list(table.sources),
        freshness=table.freshness,
        stale=table.stale,
        stale_sources=list(table.stale_sources),
        oldest_sync=table.oldest_sync,
        pii=table.pii,
        columns=[
            SummaryColumn(
                name=c.name,
                type=c.type,
                description=c.description,
                pii=bool(c.pii),
                pii_kinds=list(c.pii),
            )
            for c in table.columns
        ],
    )
