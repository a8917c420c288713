"""Schedules: project.yml's `schedules:` (and consoles' own) as Prefect deployment
schedules; applying a changed project.yml, and reading their runs from Prefect."""

from headwater.schedules.names import (
    SCHEDULE_FLOW,
    schedule_deployment,
    schedule_deployment_name,
    schedule_of,
    schedule_tag,
    synced_sources,
    target_text,
    timing_text,
)
from headwater.schedules.reload import ReloadReport, apply_schedules, schedule_warnings
from headwater.schedules.runs import (
    ScheduleRun,
    read_schedule_run,
    schedule_history,
    start_schedule_run,
)
from headwater.schedules.status import ScheduleStatus, schedule_statuses, unscheduled_sources
from headwater.schedules.typical import IntervalWarning

__all__ = [
    "SCHEDULE_FLOW",
    "IntervalWarning",
    "ReloadReport",
    "ScheduleRun",
    "ScheduleStatus",
    "apply_schedules",
    "read_schedule_run",
    "schedule_deployment",
    "schedule_deployment_name",
    "schedule_history",
    "schedule_of",
    "schedule_statuses",
    "schedule_tag",
    "schedule_warnings",
    "start_schedule_run",
    "synced_sources",
    "target_text",
    "timing_text",
    "unscheduled_sources",
]
