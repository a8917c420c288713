"""`/api/consoles`: saved SQL from project.yml, its runs and its schedule."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.access import GuardedRoute, requires
from api.audit import note_detail
from api.deps import AppContext, Context, CurrentPrincipal
from api.errors import ApiError, not_found
from api.routes.sync import IdempotencyKey
from api.schemas.common import ApiModel, Page, Paging
from api.schemas.consoles import (
    ConsoleDetail,
    ConsoleOut,
    ConsoleRunOut,
    ScheduledConsole,
    ScheduleIn,
)
from api.schemas.runs import TriggeredRun
from api.triggers import replayed_run, scoped_key, start_run
from headwater.config.consoles import ConsoleConfig
from headwater.config.writer import set_console_schedule
from headwater.consoles import (
    ConsoleSqlFileError,
    console_read_tables,
    console_runs,
    console_sql,
    describe_schedule,
    last_result_run,
    last_run,
    last_runs,
)
from headwater.errors import ConfigError, HeadwaterError
from headwater.runs import CONSOLE_DEPLOYMENT, RUN_KINDS
from headwater.schedules import apply_schedules

logger = logging.getLogger("headwater.api.consoles")

router = APIRouter(route_class=GuardedRoute, tags=["consoles"])

# One project.yml change at a time in this app, so the loaded project is the last one written.
_WRITE_LOCK = asyncio.Lock()


class ScheduleChanged(ApiModel):
    """A console's schedule after a change, and whether Prefect has it yet."""

    console: ConsoleOut
    """The console as project.yml now says."""
    applied: bool
    """Prefect's schedules were updated (see `message` when not)."""
    message: str
    """What applying changed, or why it could not (the change is saved either way and
    applies with the next `headwater schedules reload` or `headwater serve`)."""


def _console(context: AppContext, name: str) -> ConsoleConfig:
    consoles = context.current_project().config.consoles
    if name not in consoles:
        raise not_found("console", name, list(consoles))
    return consoles[name]


@router.get("/api/consoles", openapi_extra=requires("source.view"))
async def list_consoles(context: Context, paging: Paging) -> Page[ConsoleOut]:
    """The consoles of project.yml, sorted by name, each with its schedule (and next run),
    materialized table, export file, assertions and last run."""
    consoles = sorted(context.current_project().config.consoles.items())
    last = await run_in_threadpool(last_runs, context.store)
    items = [ConsoleOut.of(name, config, last.get(name)) for name, config in consoles]
    return Page[ConsoleOut](items=list(paging.window(items)), total=len(items))


@router.get("/api/consoles/{name}", openapi_extra=requires("source.view"))
async def get_console(context: Context, name: str) -> ConsoleDetail:
    """One console: its SQL, the tables it reads, its last run and the first rows (up to
    20) of its newest result."""
    config = _console(context, name)
    last = await run_in_threadpool(last_run, context.store, name)
    with_result = await run_in_threadpool(last_result_run, context.store, name)
    try:
        sql, sql_error = console_sql(context.current_project(), name), None
    except ConsoleSqlFileError as exc:
        sql, sql_error = None, str(exc)
    reads = console_read_tables(context.current_project(), name) if sql is not None else []
    return ConsoleDetail.build(name, config, last, with_result, sql, sql_error, reads)


@router.get("/api/consoles/{name}/runs", openapi_extra=requires("source.view"))
async def list_console_runs(context: Context, name: str, paging: Paging) -> Page[ConsoleRunOut]:
    """The console's run history, newest first: status, start, duration, row count,
    assertion results and error."""
    _console(context, name)
    runs, total = await run_in_threadpool(
        console_runs, context.store, name, paging.skip, paging.limit
    )
    return Page[ConsoleRunOut](items=[ConsoleRunOut.of(run) for run in runs], total=total)


@router.post("/api/consoles/{name}/run", status_code=202, openapi_extra=requires("console.run"))
async def run_console(
    context: Context, principal: CurrentPrincipal, name: str, idempotency_key: IdempotencyKey = None
) -> TriggeredRun:
    """Run the console now as a flow run of the `run_console/run-console` deployment;
    returns its run id at once (poll `GET /api/runs/{run_id}`, or read the outcome from
    `GET /api/consoles/{name}/runs`)."""
    _console(context, name)
    flow = RUN_KINDS["console"]
    key = scoped_key(principal, f"console:{name}", idempotency_key)
    replay = await replayed_run(context, key, f"{flow}/{CONSOLE_DEPLOYMENT}", None)
    if replay is not None:
        return replay
    return await start_run(context, flow, CONSOLE_DEPLOYMENT, {"console": name}, key)


@router.put("/api/consoles/{name}/schedule", openapi_extra=requires("console.manage"))
async def set_schedule(
    context: Context, request: Request, name: str, body: ScheduleIn
) -> ScheduleChanged:
    """Set the console's schedule: `cron` (with `timezone`) or `interval`, and `enabled`.

    project.yml is rewritten with its comments, key order and quoting kept, after the
    whole new file passed validation (400 `invalid_config` otherwise, the file untouched);
    then Prefect's schedules are updated. Recorded in the audit log."""
    _console(context, name)
    return await _change_schedule(context, request, name, body.as_yaml())


@router.delete("/api/consoles/{name}/schedule", openapi_extra=requires("console.manage"))
async def delete_schedule(context: Context, request: Request, name: str) -> ScheduleChanged:
    """Remove the console's schedule (it then runs only on demand); project.yml is
    rewritten as for PUT. Recorded in the audit log."""
    _console(context, name)
    return await _change_schedule(context, request, name, None)


async def _change_schedule(
    context: AppContext, request: Request, name: str, values: dict[str, object] | None
) -> ScheduleChanged:
    async with _WRITE_LOCK:
        try:
            project = await run_in_threadpool(
                set_console_schedule, context.current_project().file, name, values
            )
        except ConfigError as exc:
            note_detail(request, f"console {name}: schedule refused")
            raise ApiError(400, str(exc), "invalid_config") from None
        context.use_project(project)
    config = project.config.consoles[name]
    schedule = config.schedule
    note_detail(
        request,
        f"console {name} schedule: {describe_schedule(schedule) if schedule else 'removed'}",
    )
    try:
        report = await run_in_threadpool(apply_schedules, project, context.prefect.api_url)
    except HeadwaterError as exc:
        logger.warning("console %s: schedule saved, not applied: %s", name, exc)
        applied, message = False, f"saved in {project.file.name}, not applied yet: {exc}"
    else:
        applied, message = True, f"Prefect schedules: {report.summary()}"
    last = await run_in_threadpool(last_run, context.store, name)
    return ScheduleChanged(
        console=ConsoleOut.of(name, config, last), applied=applied, message=message
    )


@router.get("/api/scheduled-consoles", openapi_extra=requires("source.view"))
async def scheduled_consoles(context: Context, paging: Paging) -> Page[ScheduledConsole]:
    """Consoles with a schedule, sorted by their next run (disabled ones last), each with
    its last run."""
    last = await run_in_threadpool(last_runs, context.store)
    items = []
    for name, config in sorted(context.current_project().config.consoles.items()):
        if config.schedule is None:
            continue
        view = ConsoleOut.of(name, config, last.get(name))
        assert view.schedule is not None
        items.append(
            ScheduledConsole(
                name=name,
                description=config.description,
                schedule=view.schedule,
                next_run_at=view.schedule.next_run_at,
                last_run=view.last_run,
            )
        )
    never = datetime.max.replace(tzinfo=UTC)
    items.sort(key=lambda item: (item.next_run_at or never, item.name))
    return Page[ScheduledConsole](items=list(paging.window(items)), total=len(items))

