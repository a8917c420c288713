"""`/api/sources`: sources with their state, one source's detail, and its connection test."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import Context
from api.errors import not_found
from api.run_views import run_view
from api.schemas.common import Page, Paging
from api.schemas.sources import CheckOut, SourceDetail, SourceOut
from api.source_status import masked, recent_sync_runs
from connectors import connector_for
from headwater.errors import HeadwaterError

router = APIRouter(route_class=GuardedRoute, tags=["sources"])


def _known(context: Context, name: str) -> None:
    sources = context.project.config.sources
    if name not in sources:
        raise not_found("source", name, list(sources))


@router.get("/api/sources", openapi_extra=requires("source.view"))
async def list_sources(context: Context, paging: Paging) -> Page[SourceOut]:
    """Every source in project.yml with its type, status (synced, syncing, failed, never
    synced), last sync, freshness and warehouse tables with row counts."""
    statuses = list((await context.source_status.get(context)).values())
    items = paging.window(statuses)
    return Page[SourceOut](items=items, total=len(statuses))


@router.get("/api/sources/{name}", openapi_extra=requires("source.view"))
async def get_source(context: Context, name: str) -> SourceDetail:
    """One source: its state, masked configuration, tables and ten newest runs."""
    _known(context, name)
    status = (await context.source_status.get(context))[name]
    runs = [await run_view(context.prefect, raw) for raw in await recent_sync_runs(context, name)]
    config = context.project.config.sources[name].model_dump(mode="json")
    return SourceDetail(**status.model_dump(), config=masked(config), recent_runs=runs)


@router.post("/api/sources/{name}/test", openapi_extra=requires("source.sync"))
async def test_source(context: Context, name: str) -> CheckOut:
    """Run the connector's check: can it connect, and which tables would the next sync load?
    A failing check answers 200 with `ok: false` and the reason."""
    _known(context, name)

    def check() -> CheckOut:
        try:
            report = connector_for(context.project, name).check()
        except HeadwaterError as exc:
            return CheckOut(ok=False, tables=[], details={}, error=str(exc))
        tables = [spec.name for spec in report.tables]
        error = None if tables else "the source has no tables to load"
        return CheckOut(ok=bool(tables), tables=tables, details=report.details, error=error)

    return await run_in_threadpool(check)
