"""`/api/governance/pii`: PII columns (scan findings, overrides, lineage into models) and
the overrides of project.yml."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import Context
from api.errors import not_found
from api.schemas.common import Page, Paging
from api.schemas.pii import PiiColumnOut, PiiOverrideOut
from headwater.governance.pii_lineage import PiiColumn, effective_pii
from headwater.query.session import query_session
from headwater.warehouse import raw_schema

router = APIRouter(route_class=GuardedRoute, tags=["governance"])


def _matches(
    column: PiiColumn, source: str | None, table: str | None, pii: bool | None
) -> bool:
    if pii is not None and column.pii != pii:
        return False
    if table is not None and table not in (column.table, column.model):
        return False
    if source is None:
        return True
    if column.source is not None:
        return column.source == source
    # A model column belongs to the sources its PII came from.
    return any(origin.startswith(f"{raw_schema(source)}.") for origin in column.lineage_from)


@router.get("/api/governance/pii", openapi_extra=requires("governance.view"))
async def list_pii(
    context: Context,
    paging: Paging,
    source: Annotated[
        str | None,
        Query(description="Only columns of this source, and model columns derived from it."),
    ] = None,
    table: Annotated[
        str | None, Query(description="Only columns of this source table or dbt model.")
    ] = None,
    pii: Annotated[
        bool | None,
        Query(description="true: only columns that are PII; false: only those declared not."),
    ] = None,
) -> Page[PiiColumnOut]:
    """Columns with PII evidence or an override: raw columns with the latest scans'
    findings (kind, share of matching samples, sample size), model columns derived from
    PII columns through column lineage, each with its effective `pii` flag."""
    project = context.project
    if source is not None and source not in project.config.sources:
        raise not_found("source", source, list(project.config.sources))

    def compute() -> list[PiiColumn]:
        with query_session(context.warehouse) as conn:
            return effective_pii(project, context.store, conn)

    columns = [c for c in await run_in_threadpool(compute) if _matches(c, source, table, pii)]
    items = [PiiColumnOut.model_validate(asdict(c)) for c in paging.window(columns)]
    return Page[PiiColumnOut](items=items, total=len(columns))


@router.get("/api/governance/pii/overrides", openapi_extra=requires("governance.view"))
async def list_overrides(context: Context, paging: Paging) -> Page[PiiOverrideOut]:
    """`governance.pii_overrides` of project.yml, in file order: they win over the scans."""
    overrides = context.project.config.governance.pii_overrides
    items = [PiiOverrideOut.model_validate(o.model_dump()) for o in paging.window(overrides)]
    return Page[PiiOverrideOut](items=items, total=len(overrides))
