"""When a scheduled console runs next, computed as the schedules' Prefect timing fires."""

from __future__ import annotations

from datetime import datetime

from headwater.config.consoles import ConsoleSchedule
from headwater.config.durations import format_duration
from headwater.config.schedules import ScheduleConfig


def next_run_at(
    console: str, schedule: ConsoleSchedule, now: datetime | None = None
) -> datetime | None:
    """The next time (UTC) console `console`'s `schedule` fires after `now`, None when
    it is disabled: cron in its time zone, intervals counted from their fixed anchor (as
    `headwater.schedules` registers them in Prefect)."""
    from headwater.schedules.timing import next_fire_time

    if not schedule.enabled:
        return None
    as_schedule = ScheduleConfig(console=console, **schedule.model_dump(exclude_unset=True))
    return next_fire_time(as_schedule, now)


def describe_schedule(schedule: ConsoleSchedule) -> str:
    """`cron 0 7 * * * (Europe/Lisbon)` or `every 1h`, plus `(disabled)`."""
    if schedule.cron is not None:
        text = f"cron {schedule.cron} ({schedule.timezone})"
    else:
        assert schedule.interval is not None
        text = f"every {format_duration(schedule.interval)}"
    return text if schedule.enabled else f"{text} (disabled)"
