"""Each schedule of project.yml with its state in Prefect: next run, last run, warnings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from headwater.config import Project
from headwater.config.schedules import ScheduleConfig
from headwater.config.sources import PostgresCdcSource
from headwater.errors import TerminalError
from headwater.runs import prefect_request
from headwater.schedules.names import synced_sources
from headwater.schedules.reload import desired_schedules, find_schedule_deployment
from headwater.schedules.runs import ScheduleRun, last_run, upcoming_runs
from headwater.schedules.timing import next_fire_time, timing_key
from headwater.schedules.typical import IntervalWarning, interval_warning


@dataclass(frozen=True)
class ScheduleStatus:
    """A schedule and what Prefect knows of it."""

    name: str
    """The schedule's name (`console_<name>` for a console's own schedule)."""
    config: ScheduleConfig
    """Its configuration from project.yml."""
    applied: bool
    """Prefect has it (as project.yml says): false until the next reload."""
    next_run_time: datetime | None
    """When it runs next (None while disabled)."""
    last_run: ScheduleRun | None
    """Its newest run that started."""
    warning: IntervalWarning | None
    """Its interval is shorter than its typical run."""


def schedule_statuses(
    project: Project, api_url: str, only: list[str] | None = None
) -> list[ScheduleStatus]:
    """Every schedule of project.yml (or those named in `only`) with its Prefect state."""
    schedules = project.config.all_schedules()
    if only is not None:
        schedules = {name: schedules[name] for name in only}
    try:
        deployment = find_schedule_deployment(api_url, project)
    except TerminalError:
        deployment = None  # never served: every schedule shows as not applied
    applied: set[str] = set()
    upcoming: dict[str, datetime] = {}
    if deployment is not None:
        wanted = desired_schedules(project)
        for item in prefect_request(api_url, f"/deployments/{deployment['id']}/schedules"):
            want = wanted.get(str(item.get("slug")))
            if (
                want
                and item.get("active") == want["active"]
                and (timing_key(item["schedule"]) == timing_key(want["schedule"]))
            ):
                applied.add(want["slug"])
        if not deployment.get("paused"):
            upcoming = upcoming_runs(api_url, deployment["id"])
    statuses = []
    for name, config in schedules.items():
        next_run = None
        if config.enabled and (deployment is None or not deployment.get("paused")):
            next_run = upcoming.get(name) or next_fire_time(config)
        statuses.append(
            ScheduleStatus(
                name=name,
                config=config,
                applied=name in applied,
                next_run_time=next_run,
                last_run=last_run(api_url, project, name),
                warning=interval_warning(api_url, project, name, config),
            )
        )
    return statuses


def unscheduled_sources(project: Project) -> dict[str, list[str]]:
    """Enabled sources no enabled schedule syncs -> the disabled schedules that name them.

    CDC sources are left out: they replicate on their own `interval_seconds`."""
    scheduled: set[str] = set()
    paused: dict[str, list[str]] = {}
    for name, schedule in project.config.all_schedules().items():
        for source in synced_sources(schedule):
            if schedule.enabled:
                scheduled.add(source)
            else:
                paused.setdefault(source, []).append(name)
    return {
        name: paused.get(name, [])
        for name, config in project.config.sources.items()
        if config.enabled and name not in scheduled and not isinstance(config, PostgresCdcSource)
    }
