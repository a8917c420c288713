"""Consoles as the API shows them, their runs, and the body that schedules one."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from api.schemas.common import ApiModel
from headwater.config.consoles import ConsoleConfig, ConsoleSchedule
from headwater.config.durations import format_duration
from headwater.config.timing import MIN_INTERVAL
from headwater.consoles import describe_schedule, materialized_table, next_run_at
from headwater.store.consoles import ConsoleRun


class ScheduleOut(ApiModel):
    """When a console runs by itself."""

    cron: str | None
    """Cron expression, when it runs on a cron."""
    timezone: str
    """Time zone of the cron expression."""
    interval: str | None
    """Interval (`1h`), when it runs on an interval."""
    enabled: bool
    """Disabled schedules never fire."""
    description: str
    """In words: `cron 0 7 * * * (Europe/Lisbon)`, `every 1h`."""
    next_run_at: datetime | None
    """When it fires next (UTC); None when disabled."""

    @classmethod
    def of(cls, name: str, schedule: ConsoleSchedule) -> ScheduleOut:
        """The API's view of console `name`'s schedule."""
        return cls(
            cron=schedule.cron,
            timezone=schedule.timezone,
            interval=format_duration(schedule.interval) if schedule.interval else None,
            enabled=schedule.enabled,
            description=describe_schedule(schedule),
            next_run_at=next_run_at(name, schedule),
        )


class ExportOut(ApiModel):
    """The file every run replaces."""

    path: str
    """As project.yml gives it (relative to project.yml)."""
    format: Literal["parquet", "csv"]
    """File format."""


class AssertionOut(ApiModel):
    """One assertion checked by a run."""

    name: str
    """`min_rows`, `max_rows`, `not_null <column>` or `expression <SQL>`."""
    passed: bool
    """Whether the result passed it."""
    message: str
    """What was found, e.g. `not_null revenue: 3 rows are NULL`."""


class ConsoleRunOut(ApiModel):
    """One run of a console, from the run history."""

    id: int
    """History entry id."""
    flow_run_id: str | None
    """The Prefect flow run (`GET /api/runs/{id}`)."""
    status: Literal["running", "succeeded", "failed"]
    """running until it ends."""
    started_at: datetime
    """When it started."""
    finished_at: datetime | None
    """When it ended."""
    duration_seconds: float | None
    """Seconds it took."""
    row_count: int | None
    """Rows of the result (None when the query failed)."""
    assertions: list[AssertionOut]
    """Every assertion checked, in order."""
    error: str | None
    """Why it failed."""
    materialized_table: str | None
    """`consoles.<name>`, when this run replaced it."""
    export_path: str | None
    """The export file this run replaced."""

    @classmethod
    def of(cls, run: ConsoleRun) -> ConsoleRunOut:
        """The API's view of a history entry."""
        return cls.model_validate(
            {
                **{name: getattr(run, name) for name in cls.model_fields if name != "assertions"},
                "assertions": run.assertions or [],
            }
        )


class ConsoleOut(ApiModel):
    """A console from project.yml, with its last run."""

    name: str
    """Console name (key under `consoles:`)."""
    description: str
    """What it answers."""
    file: str | None
    """Its .sql file (relative to project.yml); None for inline SQL."""
    schedule: ScheduleOut | None
    """When it runs by itself; None when only on demand."""
    materialize: bool
    """Each run replaces `table` in the warehouse."""
    table: str | None
    """`consoles.<name>` when it materializes."""
    export: ExportOut | None
    """The file each run replaces."""
    assertions: dict[str, Any] | None
    """The checks every result must pass (min_rows, max_rows, not_null, expression)."""
    last_run: ConsoleRunOut | None
    """Its newest run, if it ran."""

    @classmethod
    def of(cls, name: str, config: ConsoleConfig, last: ConsoleRun | None) -> ConsoleOut:
        """The API's view of console `name`."""
        return cls(**_fields(name, config, last))


class ColumnOut(ApiModel):
    """One column of a console's result."""

    name: str
    """Column name."""
    type: str
    """DuckDB type, e.g. BIGINT, DECIMAL(18,3)."""


class ConsoleDetail(ConsoleOut):
    """A console with its SQL and the first rows of its last result."""

    sql: str | None
    """The SQL (inline, or the file's text); None when the file cannot be read."""
    sql_error: str | None
    """Why the SQL file cannot be read."""
    reads: list[str]
    """Tables its SQL reads (`schema.table`)."""
    result_run_id: int | None
    """The history entry whose result `rows` shows (the newest run with a result)."""
    columns: list[ColumnOut]
    """Columns of that result."""
    rows: list[list[Any]]
    """Its first rows (up to 20) as JSON values in column order, converted as
    `POST /api/query` converts them."""

    @classmethod
    def build(
        cls,
        name: str,
        config: ConsoleConfig,
        last: ConsoleRun | None,
        with_result: ConsoleRun | None,
        sql: str | None,
        sql_error: str | None,
        reads: list[str],
    ) -> ConsoleDetail:
        """The API's detailed view of console `name`."""
        return cls(
            **_fields(name, config, last),
            sql=sql,
            sql_error=sql_error,
            reads=reads,
            result_run_id=with_result.id if with_result else None,
            columns=[ColumnOut(**column) for column in (with_result.columns or [])]
            if with_result else [],
            rows=(with_result.preview or []) if with_result else [],
        )


def _fields(name: str, config: ConsoleConfig, last: ConsoleRun | None) -> dict[str, Any]:
    return {
        "name": name,
        "description": config.description,
        "file": config.file,
        "schedule": ScheduleOut.of(name, config.schedule) if config.schedule else None,
        "materialize": config.materialize,
        "table": materialized_table(name) if config.materialize else None,
        "export": ExportOut(path=config.export.path, format=config.export.file_format)
        if config.export else None,
        "assertions": config.assertions.model_dump(exclude_defaults=True)
        if config.assertions else None,
        "last_run": ConsoleRunOut.of(last) if last else None,
    }


class ScheduledConsole(ApiModel):
    """A console with a schedule: when it runs next, and how its last run went."""

    name: str
    """Console name."""
    description: str
    """What it answers."""
    schedule: ScheduleOut
    """Its schedule."""
    next_run_at: datetime | None
    """When it runs next (UTC); None when the schedule is disabled."""
    last_run: ConsoleRunOut | None
    """Its newest run, if it ran."""


class ScheduleIn(ConsoleSchedule):
    """A console's schedule: `cron` (with `timezone`) or `interval`, checked as project.yml
    checks it (unknown fields refused)."""

    def as_yaml(self) -> dict[str, Any]:
        """The keys as project.yml spells them (a cron's time zone always; defaults left
        out otherwise)."""
        if self.cron is not None:
            values: dict[str, Any] = {"cron": self.cron, "timezone": self.timezone}
        else:
            values = {"interval": format_duration(self.interval or MIN_INTERVAL)}
            if self.timezone != "UTC":  # intervals count from midnight in this zone
                values["timezone"] = self.timezone
        if not self.enabled:
            values["enabled"] = False
        return values
