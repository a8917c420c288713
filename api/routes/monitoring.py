"""`/api/monitoring`: the latest monitoring results, and starting a monitoring run.

The checks need the connectors (to count rows at the sources), which the API process may
not import: a run is a flow run of the `run_monitoring/monitoring` deployment."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.deps import Context, CurrentPrincipal
from api.routes.sync import IdempotencyKey
from api.schemas.governance import CheckOut, MonitoringOut
from api.schemas.runs import TriggeredRun
from api.triggers import replayed_run, scoped_key, start_run
from headwater.governance.monitoring import (
    MONITORING_DEPLOYMENT,
    MONITORING_FLOW,
    latest_report,
)

router = APIRouter(route_class=GuardedRoute, tags=["monitoring"])


@router.get("/api/monitoring", openapi_extra=requires("governance.view"))
async def monitoring_results(
    context: Context,
    status: Annotated[
        Literal["ok", "warning", "skipped"] | None, Query(description="Only this status.")
    ] = None,
    check: Annotated[
        Literal["freshness", "row_count_change", "reconciliation"] | None,
        Query(description="Only this check."),
    ] = None,
) -> MonitoringOut:
    """The latest monitoring run: each source's freshness, each table's row-count change
    between its last two syncs (beyond `governance.row_count_change_threshold` it warns),
    and source-vs-warehouse row counts; warnings first."""
    report = await run_in_threadpool(latest_report, context.store)
    if report is None:
        return MonitoringOut(ran_at=None, run_id=None, warnings=0, results=[])
    results = [
        CheckOut(check=r.check, source=r.source, table=r.table, status=r.status,
                 message=r.message, details=r.details)
        for r in report.results
        if (status is None or r.status == status) and (check is None or r.check == check)
    ]
    return MonitoringOut(
        ran_at=report.finished_at or report.started_at,
        run_id=report.flow_run_id,
        warnings=report.warnings,
        results=results,
    )


@router.post("/api/monitoring/run", status_code=202, openapi_extra=requires("governance.manage"))
async def run_monitoring(
    context: Context, principal: CurrentPrincipal, idempotency_key: IdempotencyKey = None
) -> TriggeredRun:
    """Run the monitoring checks now, as a flow run of the `run_monitoring/monitoring`
    deployment (served by `headwater serve`, hourly on its own); returns its run id at once.
    Read the results with GET /api/monitoring when it has finished."""
    deployment = f"{MONITORING_FLOW}/{MONITORING_DEPLOYMENT}"
    key = scoped_key(principal, "monitoring", idempotency_key)
    replay = await replayed_run(context, key, deployment, None)
    if replay is not None:
        return replay
    return await start_run(context, MONITORING_FLOW, MONITORING_DEPLOYMENT, {}, key)
