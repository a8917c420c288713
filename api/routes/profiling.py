"""`/api/catalog/{source}/{table}`: a source table's columns with their PII flags and last
profile, and profiling it now.

The paths share `/api/catalog/` with the catalog router, which is included first: its
fixed paths (`/api/catalog/lineage/columns/{node}`, ...) win, and a first segment that is
not a source in project.yml answers 404 here."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import Context
from api.errors import ApiError, not_found
from api.schemas.pii import (
    ColumnProfileOut,
    ProfiledColumnOut,
    TableColumnOut,
    TableColumnsOut,
    TableProfileOut,
)
from headwater.governance.pii import column_types
from headwater.governance.pii_lineage import table_pii
from headwater.governance.profiling import profile_table, stored_profile
from headwater.query.session import query_session
from headwater.warehouse import raw_schema
from headwater.warehouse.sql import quote_literal

router = APIRouter(route_class=GuardedRoute, tags=["governance"])


def _require_table(context: Context, source: str, table: str) -> None:
    """404 naming the known sources, or the source's tables, unless the table exists."""
    sources = context.project.config.sources
    if source not in sources:
        raise not_found("source", source, list(sources))
    with query_session(context.warehouse) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'lake' "
            f"AND table_schema = {quote_literal(raw_schema(source))} "
            "AND NOT starts_with(table_name, '_dlt_')"
        ).fetchall()
    tables = [str(row[0]) for row in rows]
    if table not in tables:
        known = ", ".join(sorted(tables)[:20]) or "none (sync the source first)"
        raise ApiError(404, f"source '{source}' has no table '{table}'; known: {known}",
                       "table_not_found")


@router.get("/api/catalog/{source}/{table}/columns", openapi_extra=requires("governance.view"))
async def table_columns(context: Context, source: str, table: str) -> TableColumnsOut:
    """Columns of `raw_<source>.<table>` with their type, effective PII flag and kinds
    (scan findings and overrides), and the table's last profile, if any."""

    def build() -> TableColumnsOut:
        _require_table(context, source, table)
        with query_session(context.warehouse) as conn:
            types = column_types(conn, raw_schema(source), table)
        flags = table_pii(context.project, context.store, source, table)
        profile = stored_profile(context.store, source, table)
        profiled = {c.name: c for c in profile.columns} if profile else {}
        columns = []
        for name, kind in types.items():
            flag = flags.get(name)
            found = profiled.get(name)
            columns.append(
                TableColumnOut(
                    name=name,
                    type=kind,
                    pii=bool(flag and flag.pii),
                    pii_kinds=flag.kinds if flag and flag.pii else [],
                    profile=ColumnProfileOut.model_validate(asdict(found)) if found else None,
                )
            )
        return TableColumnsOut(
            source=source,
            table=table,
            relation=f"{raw_schema(source)}.{table}",
            row_count=profile.row_count if profile else None,
            profiled_at=profile.profiled_at if profile else None,
            columns=columns,
        )

    return await run_in_threadpool(build)


@router.post(
    "/api/catalog/{source}/{table}/profile", openapi_extra=requires("governance.manage")
)
async def profile(context: Context, source: str, table: str) -> TableProfileOut:
    """Profile `raw_<source>.<table>` now (null share, distinct count, min, max, mean, top
    values per column; PII columns masked), store it as the table's last profile and
    return it."""

    def run() -> TableProfileOut:
        _require_table(context, source, table)
        with query_session(context.warehouse) as conn:
            result = profile_table(context.project, context.store, source, table, conn)
        return TableProfileOut(
            source=result.source,
            table=result.table,
            row_count=result.row_count,
            profiled_at=result.profiled_at,
            columns=[ProfiledColumnOut.model_validate(asdict(c)) for c in result.columns],
        )

    return await run_in_threadpool(run)
