"""Schedules as the API shows them, their runs, and what a reload changed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from api.schemas.common import ApiModel, RequestModel


class ScheduleRunOut(ApiModel):
    """One run of a schedule (a Prefect flow run of `run_schedule`)."""

    id: str
    """Prefect flow-run id (`GET /api/runs/{id}` has its details)."""
    name: str
    """Flow-run name, e.g. `schedule-nightly-20261122T020000Z`."""
    schedule: str | None
    """The schedule it ran."""
    state: str
    """Prefect state type: scheduled, pending, running, completed, failed, cancelled, ..."""
    state_name: str | None
    """Prefect's state name (`TimedOut` for a run past its timeout, `Late`, ...)."""
    error: str | None
    """Why it failed, crashed or was cancelled."""
    expected_start_time: datetime | None
    """When it was due."""
    start_time: datetime | None
    """When it started."""
    end_time: datetime | None
    """When it ended."""
    duration_seconds: float | None
    """Seconds from start to end (so far, while running)."""
    ui_url: str
    """This run in the Prefect UI (its child runs are linked there)."""


class DbtSelectionOut(ApiModel):
    """The dbt selection a `dbt` schedule builds."""

    select: str
    """dbt selector (empty: every model)."""
    exclude: str
    """dbt selector of what is left out."""
    full_refresh: bool
    """Incremental models rebuilt from scratch."""


class ScheduleOut(ApiModel):
    """A schedule from project.yml with its state in Prefect."""

    name: str
    """Its name (`console_<name>` for a console's own schedule)."""
    description: str
    """What it is for."""
    kind: Literal["sync", "dbt", "console", "pipeline"]
    """What it runs: syncs, a dbt build, a console, or syncs then the models downstream."""
    target: str
    """What it runs, in words (`sync orders, crm`)."""
    sources: list[str]
    """Sources synced (sync and pipeline schedules)."""
    dbt: DbtSelectionOut | None
    """The dbt selection built (dbt schedules)."""
    console: str | None
    """The console run (console schedules)."""
    cron: str | None
    """Cron expression (or `interval`)."""
    interval: str | None
    """Interval as written in project.yml, e.g. `15m` (or `cron`)."""
    interval_seconds: float | None
    """The interval in seconds."""
    timezone: str
    """IANA time zone of the cron expression (and of the interval's anchor)."""
    enabled: bool
    """Disabled schedules stay in Prefect, paused."""
    timeout: str | None
    """A run still going after this long is cancelled and fails."""
    retries: int
    """Times the failed part of a run is tried again."""
    retry_delay: str
    """Wait between tries."""
    applied: bool
    """Prefect runs it as project.yml says (false until the next reload)."""
    next_run_time: datetime | None
    """When it runs next (none while disabled or while its runner is stopped)."""
    last_run: ScheduleRunOut | None
    """Its newest run that started, with its state."""
    typical_duration_seconds: float | None
    """Median duration of recent successful runs, when its interval is shorter."""
    warning: str | None
    """Why this schedule needs a look (an interval shorter than the typical run)."""


class ScheduleChange(ApiModel):
    """One schedule a reload updated."""

    name: str
    """The schedule."""
    change: str
    """What changed (`now every 30m`, `disabled`)."""


class ReloadOut(ApiModel):
    """What `POST /api/schedules/reload` changed in Prefect."""

    deployment: str
    """The Prefect deployment carrying the schedules."""
    added: list[str]
    """Schedules created."""
    changed: list[ScheduleChange]
    """Schedules updated."""
    removed: list[str]
    """Schedules deleted (gone from project.yml)."""
    unchanged: list[str]
    """Schedules already as project.yml says."""
    warnings: list[str]
    """Problems worth a look: intervals shorter than the typical run, disabled sources."""
    paused: bool
    """The deployment is paused (its runner stopped): nothing runs until it is served."""


class ScheduleTriggerRequest(RequestModel):
    """Options of `POST /api/schedules/{name}/trigger`."""

    queue: bool = False
    """Start it even when a run of the schedule is under way (it runs beside it; each
    source still syncs one run at a time)."""


class UnscheduledSource(ApiModel):
    """An enabled source that no enabled schedule syncs."""

    name: str
    """Source name."""
    type: str
    """Source type (files, sql, rest_api)."""
    description: str
    """Its description from project.yml."""
    disabled_schedules: list[str]
    """Disabled schedules that would sync it."""
