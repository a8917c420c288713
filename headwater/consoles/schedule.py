"""When a scheduled console runs next (for the API's list of scheduled consoles)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from headwater.config.consoles import ConsoleSchedule


def next_run_at(
    schedule: ConsoleSchedule, now: datetime | None = None, last_start: datetime | None = None
) -> datetime | None:
    """The next time `schedule` fires after `now` (UTC), None when it is disabled.

    Cron: the next match in the schedule's time zone (croniter, Prefect's own parser).
    Interval: the last run's start plus the interval, or now when it never ran or is
    overdue (Prefect anchors intervals when the deployment is created, so this is the
    earliest time the next run can be expected)."""
    if not schedule.enabled:
        return None
    current = (now or datetime.now(UTC)).astimezone(UTC)
    if schedule.cron is not None:
        from croniter import croniter

        local = current.astimezone(ZoneInfo(schedule.timezone))
        following: datetime = croniter(schedule.cron, local).get_next(datetime)
        return following.astimezone(UTC)
    assert schedule.interval is not None
    if last_start is None:
        return current
    return max(last_start.astimezone(UTC) + schedule.interval, current)


def describe_schedule(schedule: ConsoleSchedule) -> str:
    """`cron 0 7 * * * (Europe/Lisbon)` or `every 1h`, plus `(disabled)`."""
    from headwater.config.durations import format_duration

    if schedule.cron is not None:
        text = f"cron {schedule.cron} ({schedule.timezone})"
    else:
        assert schedule.interval is not None
        text = f"every {format_duration(schedule.interval)}"
    return text if schedule.enabled else f"{text} (disabled)"
