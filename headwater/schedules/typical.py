"""How long a schedule's run typically takes, and the warning when its interval is shorter.

Typical = the median duration of recent successful runs, read from Prefect: the
schedule's own runs once it has some, else its target's (each synced source's syncs, run
in parallel so the slowest counts; the dbt builds; the console's runs). A schedule that
fires again before its run ends queues runs behind each other without end.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from headwater.config import Project
from headwater.config.durations import format_duration
from headwater.config.schedules import ScheduleConfig
from headwater.config.sources import PostgresCdcSource
from headwater.runs import (
    RUN_KINDS,
    console_tag,
    parse_time,
    prefect_request,
    project_tag,
    source_tag,
)
from headwater.schedules.names import SCHEDULE_FLOW, schedule_tag, synced_sources

RECENT_RUNS = 10
"""Successful runs the median is taken over."""


@dataclass(frozen=True)
class TypicalRun:
    """A typical duration and what it was measured on."""

    seconds: float
    """The median duration."""
    basis: str
    """What was measured, e.g. `the last 4 successful syncs of orders`."""


@dataclass(frozen=True)
class IntervalWarning:
    """A schedule whose interval is shorter than its typical run."""

    schedule: str
    """The schedule's name."""
    interval_seconds: float
    """Its interval."""
    typical_seconds: float
    """Its typical run's duration."""
    basis: str
    """What the typical duration was measured on."""

    def __str__(self) -> str:
        every = format_duration(timedelta(seconds=self.interval_seconds))
        takes = format_duration(timedelta(seconds=round(self.typical_seconds)))
        return (
            f"schedule '{self.schedule}' runs every {every} but a typical run takes {takes} "
            f"(median of {self.basis}): runs would queue up behind each other; lengthen its "
            "interval or make the run faster"
        )


def _median_run(
    api_url: str, flows: list[str], tags: list[str], what: str, console: str | None = None
) -> TypicalRun | None:
    body = {
        "flows": {"name": {"any_": flows}},
        "flow_runs": {"tags": {"all_": tags}, "state": {"type": {"any_": ["COMPLETED"]}}},
        "sort": "EXPECTED_START_TIME_DESC",
        "limit": RECENT_RUNS,
    }
    seconds = []
    for raw in prefect_request(api_url, "/flow_runs/filter", body):
        start, end = parse_time(raw.get("start_time")), parse_time(raw.get("end_time"))
        if start and end:
            seconds.append((end - start).total_seconds())
    if not seconds:
        return None
    runs = "run" if len(seconds) == 1 else f"{len(seconds)} successful runs"
    return TypicalRun(statistics.median(seconds), f"the last {runs} of {what}")


def typical_run(
    api_url: str, project: Project, name: str, schedule: ScheduleConfig
) -> TypicalRun | None:
    """The typical run of schedule `name`, or None when nothing ran successfully yet."""
    tag = project_tag(project)
    own = _median_run(api_url, [SCHEDULE_FLOW], [tag, schedule_tag(name)], f"schedule {name}")
    if own is not None:
        return own
    if schedule.kind == "dbt":
        return _median_run(api_url, [RUN_KINDS["dbt"]], [tag], "dbt builds")
    if schedule.kind == "console":
        console = str(schedule.console)
        return _median_run(
            api_url, [RUN_KINDS["console"]], [tag, console_tag(console)], f"console {console}"
        )
    slowest: TypicalRun | None = None
    for source in synced_sources(schedule):
        config = project.config.sources[source]
        if not config.enabled or (
            isinstance(config, PostgresCdcSource) and config.mode == "continuous"
        ):
            continue  # never synced by this schedule, or a run that never ends by design
        flow = RUN_KINDS["cdc" if isinstance(config, PostgresCdcSource) else "sync"]
        found = _median_run(api_url, [flow], [tag, source_tag(source)], f"syncs of {source}")
        if found is not None and (slowest is None or found.seconds > slowest.seconds):
            slowest = found
    return slowest


def interval_warning(
    api_url: str, project: Project, name: str, schedule: ScheduleConfig
) -> IntervalWarning | None:
    """The warning for an enabled interval schedule shorter than its typical run."""
    if not schedule.enabled or schedule.interval is None:
        return None
    typical = typical_run(api_url, project, name, schedule)
    interval = schedule.interval.total_seconds()
    if typical is None or typical.seconds <= interval:
        return None
    return IntervalWarning(name, interval, typical.seconds, typical.basis)


def interval_warnings(api_url: str, project: Project) -> list[IntervalWarning]:
    """The warnings of every schedule of `project` (see `interval_warning`)."""
    found = [
        interval_warning(api_url, project, name, schedule)
        for name, schedule in project.config.all_schedules().items()
    ]
    return [warning for warning in found if warning is not None]
