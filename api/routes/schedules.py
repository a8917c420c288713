"""`/api/schedules`: schedules with their next and last runs, history, reload, trigger; and
`/api/sources/unscheduled`.

Schedules are read from project.yml as it is on disk (reloaded when the file changes), so
after an edit the API shows what `reload` would apply; Prefect holds what is applied.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Request
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.audit import note_detail
from api.deps import AppContext, Context, CurrentPrincipal
from api.errors import ApiError, not_found
from api.prefect import ACTIVE_STATES
from api.schemas.common import Page, Paging
from api.schemas.runs import TriggeredRun
from api.schemas.schedules import (
    DbtSelectionOut,
    ReloadOut,
    ScheduleChange,
    ScheduleOut,
    ScheduleRunOut,
    ScheduleTriggerRequest,
    UnscheduledSource,
)
from api.triggers import replayed_run, scoped_key, start_run
from headwater.config import Project
from headwater.config.durations import format_duration
from headwater.config.schedules import ScheduleConfig
from headwater.errors import TerminalError
from headwater.schedules import (
    SCHEDULE_FLOW,
    ScheduleRun,
    ScheduleStatus,
    apply_schedules,
    schedule_deployment_name,
    schedule_history,
    schedule_statuses,
    schedule_tag,
    synced_sources,
    target_text,
    unscheduled_sources,
)

router = APIRouter(route_class=GuardedRoute, tags=["schedules"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Repeat a request with the same key to get the same run back instead "
        "of starting another (per user and schedule).",
    ),
]

KIND_PERMISSION = {"dbt": "dbt.run", "console": "console.run", "pipeline": "dbt.run"}
"""What a trigger needs beyond `source.sync`, by kind: running a schedule is running its
target, which editors may do through the sources, dbt and consoles routes too."""

_DUE_GRACE = timedelta(seconds=5)
def _schedule(project: Project, name: str) -> ScheduleConfig:
    schedules = project.config.all_schedules()
    if name not in schedules:
        raise not_found("schedule", name, list(schedules))
    return schedules[name]


def _run_out(context: AppContext, run: ScheduleRun) -> ScheduleRunOut:
    return ScheduleRunOut(
        id=run.id,
        name=run.name,
        schedule=run.schedule,
        state=run.state,
        state_name=run.state_name,
        error=run.error,
        expected_start_time=run.expected_start_time,
        start_time=run.start_time,
        end_time=run.end_time,
        duration_seconds=run.duration_seconds,
        ui_url=f"{context.prefect.ui_url}/runs/flow-run/{run.id}",
    )


def _schedule_out(context: AppContext, status: ScheduleStatus) -> ScheduleOut:
    config = status.config
    selection = config.dbt
    return ScheduleOut(
        name=status.name,
        description=config.description,
        kind=config.kind,
        target=target_text(config),
        sources=synced_sources(config),
        dbt=DbtSelectionOut(**selection.model_dump()) if selection else None,
        console=config.console,
        cron=config.cron,
        interval=format_duration(config.interval) if config.interval else None,
        interval_seconds=config.interval.total_seconds() if config.interval else None,
        timezone=config.timezone,
        enabled=config.enabled,
        timeout=format_duration(config.timeout) if config.timeout else None,
        retries=config.retries,
        retry_delay=format_duration(config.retry_delay),
        applied=status.applied,
        next_run_time=status.next_run_time,
        last_run=_run_out(context, status.last_run) if status.last_run else None,
        typical_duration_seconds=status.warning.typical_seconds if status.warning else None,
        warning=str(status.warning) if status.warning else None,
    )


@router.get("/api/schedules", openapi_extra=requires("scheduler.view"))
async def list_schedules(context: Context, paging: Paging) -> Page[ScheduleOut]:
    """Every schedule of project.yml (consoles' own as `console_<name>`): what it runs,
    when, whether it is enabled and applied, its next run, its last run and that run's
    state, and a warning when its interval is shorter than its typical run."""
    project = context.current_project()
    names = list(paging.window(list(project.config.all_schedules())))
    statuses = await run_in_threadpool(schedule_statuses, project, context.prefect.api_url, names)
    items = [_schedule_out(context, status) for status in statuses]
    return Page[ScheduleOut](items=items, total=len(project.config.all_schedules()))


@router.get("/api/schedules/history/recent", openapi_extra=requires("scheduler.view"))
async def recent_runs(context: Context, paging: Paging) -> Page[ScheduleRunOut]:
    """Recent runs of every schedule, newest first."""
    project = context.current_project()
    runs, total = await run_in_threadpool(
        schedule_history, context.prefect.api_url, project, None, paging.skip, paging.limit
    )
    return Page[ScheduleRunOut](items=[_run_out(context, run) for run in runs], total=total)


@router.get("/api/schedules/{name}", openapi_extra=requires("scheduler.view"))
async def get_schedule(context: Context, name: str) -> ScheduleOut:
    """One schedule with its next run, last run and warning."""
    project = context.current_project()
    _schedule(project, name)
    [status] = await run_in_threadpool(schedule_statuses, project, context.prefect.api_url, [name])
    return _schedule_out(context, status)


@router.get("/api/schedules/{name}/history", openapi_extra=requires("scheduler.view"))
async def schedule_runs(context: Context, name: str, paging: Paging) -> Page[ScheduleRunOut]:
    """A schedule's runs, newest first: state, start, duration, error."""
    project = context.current_project()
    _schedule(project, name)
    runs, total = await run_in_threadpool(
        schedule_history, context.prefect.api_url, project, name, paging.skip, paging.limit
    )
    return Page[ScheduleRunOut](items=[_run_out(context, run) for run in runs], total=total)


@router.post("/api/schedules/reload", openapi_extra=requires("scheduler.manage"))
async def reload_schedules(context: Context, request: Request) -> ReloadOut:
    """Apply project.yml's schedules to Prefect without a restart: only the schedules
    added, changed (timing, enabled) or removed. What a schedule runs, its timeout and
    retries are read from project.yml when each run starts. 503 when the schedules
    deployment is not registered (start `headwater serve`)."""
    project = context.current_project()
    try:
        report = await run_in_threadpool(apply_schedules, project, context.prefect.api_url)
    except TerminalError as exc:
        raise ApiError(503, str(exc), "not_served") from None
    note_detail(request, report.summary())
    return ReloadOut(
        deployment=report.deployment,
        added=report.added,
        changed=[ScheduleChange(name=name, change=text) for name, text in report.changed.items()],
        removed=report.removed,
        unchanged=report.unchanged,
        warnings=report.warnings,
        paused=report.paused,
    )


async def _running(context: AppContext, name: str) -> dict[str, object] | None:
    """A run of schedule `name` under way or due to start now, if any."""
    runs = await context.prefect.flow_runs(
        [SCHEDULE_FLOW], [schedule_tag(name)], [*ACTIVE_STATES, "SCHEDULED"], limit=20
    )
    now = datetime.now(UTC)
    for run in runs:
        expected = run.get("expected_start_time")
        if run["state"]["type"] != "SCHEDULED" or (
            expected is None or datetime.fromisoformat(expected) <= now + _DUE_GRACE
        ):
            return run
    return None


@router.post(
    "/api/schedules/{name}/trigger", status_code=202, openapi_extra=requires("source.sync")
)
async def trigger_schedule(
    context: Context,
    principal: CurrentPrincipal,
    name: str,
    idempotency_key: IdempotencyKey = None,
    body: ScheduleTriggerRequest | None = None,
) -> TriggeredRun:
    """Run a schedule now, outside its timing, and return the Prefect run id at once.

    Needs `source.sync`, and `dbt.run` for dbt and pipeline schedules or `console.run` for
    console schedules: a trigger runs the target once and changes no schedule. 409 when a
    run of the schedule is under way (unless `queue: true`)."""
    project = context.current_project()
    config = _schedule(project, name)
    needed = KIND_PERMISSION.get(config.kind)
    if needed and not principal.can(needed):
        raise ApiError(403, f"running a {config.kind} schedule needs the {needed} permission")
    key = scoped_key(principal, f"schedule:{name}", idempotency_key)
    deployment = schedule_deployment_name(project)
    replay = await replayed_run(context, key, f"{SCHEDULE_FLOW}/{deployment}", None)
    if replay is not None:
        return replay
    lock = context.trigger_locks.setdefault(f"schedule:{name}", asyncio.Lock())
    async with lock:  # two requests at once must not both pass the running check
        if not (body or ScheduleTriggerRequest()).queue:
            running = await _running(context, name)
            if running is not None:
                raise ApiError(
                    409,
                    f"schedule '{name}' is already running (run {running['id']}); send "
                    "`queue: true` to start another beside it",
                    "schedule_running",
                )
        return await start_run(
            context,
            SCHEDULE_FLOW,
            deployment,
            {"schedule": name},
            key,
            tags=[schedule_tag(name)],
        )


@router.get("/api/sources/unscheduled", openapi_extra=requires("scheduler.view"))
async def list_unscheduled(context: Context, paging: Paging) -> Page[UnscheduledSource]:
    """Enabled sources that no enabled schedule syncs (CDC sources replicate on their own
    interval and are not listed), with the disabled schedules that name them."""
    project = context.current_project()
    found = unscheduled_sources(project)
    items = [
        UnscheduledSource(
            name=name,
            type=project.config.sources[name].type,
            description=project.config.sources[name].description,
            disabled_schedules=paused,
        )
        for name, paused in found.items()
    ]
    return Page[UnscheduledSource](items=list(paging.window(items)), total=len(items))
