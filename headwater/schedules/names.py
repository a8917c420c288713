"""Names Headwater gives its schedules in Prefect, and how a schedule is described."""

from __future__ import annotations

from headwater.config import Project
from headwater.config.durations import format_duration
from headwater.config.schedules import ScheduleConfig

SCHEDULE_FLOW = "run_schedule"
"""The Prefect flow that runs one schedule's target."""

SCHEDULE_TAG_PREFIX = "schedule:"


def schedule_deployment_name(project: Project) -> str:
    """The one deployment of `run_schedule` that carries every schedule of `project` (one
    per project, so projects sharing a Prefect server keep their schedules apart)."""
    return f"schedules-{project.config.project.name}"


def schedule_deployment(project: Project) -> str:
    """`flow/deployment`, as Prefect names the schedules deployment."""
    return f"{SCHEDULE_FLOW}/{schedule_deployment_name(project)}"


def schedule_tag(name: str) -> str:
    """The tag every run of schedule `name` (and the runs it starts) carries."""
    return f"{SCHEDULE_TAG_PREFIX}{name}"


def schedule_of(tags: list[str] | tuple[str, ...]) -> str | None:
    """The schedule a run's `schedule:<name>` tag names, if any."""
    return next(
        (
            tag.removeprefix(SCHEDULE_TAG_PREFIX)
            for tag in tags
            if tag.startswith(SCHEDULE_TAG_PREFIX)
        ),
        None,
    )


def synced_sources(schedule: ScheduleConfig) -> list[str]:
    """Sources a schedule syncs (its `sources`, or a pipeline's)."""
    return list(schedule.sources or schedule.pipeline)


def target_text(schedule: ScheduleConfig) -> str:
    """What a schedule runs, in a few words: `sync orders, crm`, `dbt build marts`."""
    if schedule.kind == "sync":
        return f"sync {', '.join(schedule.sources)}"
    if schedule.kind == "pipeline":
        return f"sync {', '.join(schedule.pipeline)}, then build downstream"
    if schedule.kind == "console":
        return f"console {schedule.console}"
    selection = schedule.dbt
    text = "dbt build"
    if selection is not None:
        text += f" --select {selection.select}" if selection.select else " (all models)"
        text += f" --exclude {selection.exclude}" if selection.exclude else ""
        text += " --full-refresh" if selection.full_refresh else ""
    return text


def timing_text(schedule: ScheduleConfig) -> str:
    """When a schedule runs: `0 2 * * * (Europe/Lisbon)` or `every 15m`."""
    if schedule.cron:
        return f"{schedule.cron} ({schedule.timezone})"
    assert schedule.interval is not None  # the config requires one of the two
    return f"every {format_duration(schedule.interval)}"
