"""`/api/runs`: flow runs as Prefect records them: list, one, logs, cancel."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from api.access import GuardedRoute, requires
from api.deps import Context
from api.errors import ApiError
from api.prefect import PrefectNotFoundError
from api.run_views import run_detail, run_view
from api.schemas.common import Page, Paging
from api.schemas.runs import LogLine, RunDetail, RunOut, RunState
from headwater.runs import RUN_KINDS, source_tag

router = APIRouter(route_class=GuardedRoute, tags=["runs"])

FINISHED_RUNS_KEPT = 1000
"""Details of ended runs kept in memory (oldest dropped first)."""
LOG_CHUNK = 200
MAX_LOG_LINES = 20_000
"""Lines read at most per request; Prefect keeps more, the UI shows them all."""
_TERMINAL = {"completed", "failed", "cancelled", "crashed"}


async def _read_run(context: Context, run_id: UUID) -> dict[str, object]:
    try:
        return await context.prefect.flow_run(str(run_id))
    except PrefectNotFoundError:
        raise ApiError(404, f"no run '{run_id}'", "run_not_found") from None


@router.get("/api/runs", openapi_extra=requires("source.view"))
async def list_runs(
    context: Context,
    paging: Paging,
    kind: Annotated[str | None, Query(description="sync, dbt or housekeeping")] = None,
    source: Annotated[str | None, Query(description="Only syncs of this source.")] = None,
    state: Annotated[RunState | None, Query(description="Only runs in this state.")] = None,
) -> Page[RunOut]:
    """Flow runs of Headwater's flows, newest first."""
    if kind is not None and kind not in RUN_KINDS:
        raise ApiError(400, f"unknown kind '{kind}'; kinds: {', '.join(RUN_KINDS)}")
    flows = [RUN_KINDS[kind]] if kind else list(RUN_KINDS.values())
    tags = [source_tag(source)] if source else None
    states = [state.upper()] if state else None
    raw_runs, total = await asyncio.gather(
        context.prefect.flow_runs(flows, tags, states, offset=paging.skip, limit=paging.limit),
        context.prefect.count_flow_runs(flows, tags, states),
    )
    items = [await run_view(context.prefect, raw) for raw in raw_runs]
    return Page[RunOut](items=items, total=total)


@router.get("/api/runs/{run_id}", openapi_extra=requires("source.view"))
async def get_run(context: Context, run_id: UUID) -> RunDetail:
    """One run: state as Prefect reports it, times, duration, rows per table, error."""
    cached = context.finished_runs.get(str(run_id))
    if cached is not None:
        return cached
    detail = await run_detail(context.prefect, await _read_run(context, run_id))
    if detail.state in _TERMINAL:
        if len(context.finished_runs) >= FINISHED_RUNS_KEPT:
            context.finished_runs.pop(next(iter(context.finished_runs)))
        context.finished_runs[detail.id] = detail
    return detail


@router.get("/api/runs/{run_id}/logs", openapi_extra=requires("source.view"))
async def get_run_logs(context: Context, run_id: UUID, paging: Paging) -> Page[LogLine]:
    """The run's log lines (its tasks' too), oldest first."""
    await _read_run(context, run_id)
    raw = await _all_logs(context, str(run_id))
    lines = [
        LogLine(
            timestamp=line["timestamp"],
            level=_level_name(int(line.get("level") or 20)),
            message=line["message"],
            task_run_id=line.get("task_run_id"),
        )
        for line in paging.window(raw)
    ]
    return Page[LogLine](items=lines, total=len(raw))


@router.post("/api/runs/{run_id}/cancel", status_code=202, openapi_extra=requires("source.sync"))
async def cancel_run(context: Context, run_id: UUID) -> RunOut:
    """Cancel a run: one not started yet is cancelled at once; a running one is asked to
    stop (Cancelling) and its process is ended by the runner. 409 when already finished."""
    raw = await _read_run(context, run_id)
    current = await run_view(context.prefect, raw)
    if current.state in _TERMINAL:
        raise ApiError(409, f"run '{run_id}' already ended ({current.state})", "run_finished")
    target = "CANCELLED" if current.state in {"scheduled", "paused"} else "CANCELLING"
    await context.prefect.set_state(str(run_id), target, "cancelled through the API")
    return await run_view(context.prefect, await context.prefect.flow_run(str(run_id)))


async def _all_logs(context: Context, run_id: str) -> list[dict[str, Any]]:
    """Every log line of the run: Prefect has no log count, and pages at most 200 lines."""
    lines: list[dict[str, Any]] = []
    while len(lines) < MAX_LOG_LINES:
        chunk = await context.prefect.logs(run_id, len(lines), LOG_CHUNK)
        lines += chunk
        if len(chunk) < LOG_CHUNK:
            break
    return lines


def _level_name(level: int) -> str:
    for threshold, name in ((50, "CRITICAL"), (40, "ERROR"), (30, "WARNING"), (20, "INFO")):
        if level >= threshold:
            return name
    return "DEBUG"
