"""A schedule's timing as Prefect stores it, and its next fire time computed locally."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from headwater.config.schedules import ScheduleConfig

INTERVAL_ANCHOR = datetime(2020, 1, 1)
"""Intervals count from midnight of 2020-01-01 in the schedule's time zone: `1h` runs on
the hour and `1d` at midnight, and a reload never shifts them (Prefect's default anchor is
the moment the schedule is created)."""

_DURATION = TypeAdapter(timedelta)


def anchor(schedule: ScheduleConfig) -> datetime:
    """The anchor of an interval schedule, in its time zone."""
    return INTERVAL_ANCHOR.replace(tzinfo=ZoneInfo(schedule.timezone))


def prefect_timing(schedule: ScheduleConfig) -> dict[str, Any]:
    """The `schedule` object of a Prefect deployment schedule (cron or interval)."""
    if schedule.cron:
        return {"cron": schedule.cron, "timezone": schedule.timezone, "day_or": True}
    assert schedule.interval is not None  # the config requires one of the two
    return {
        "interval": schedule.interval.total_seconds(),
        "anchor_date": anchor(schedule).isoformat(),
        "timezone": schedule.timezone,
    }


def timing_key(timing: dict[str, Any]) -> tuple[Any, ...]:
    """What decides when a Prefect schedule fires, comparable between the JSON Headwater
    sends and the JSON the server returns (intervals as seconds or ISO text, anchors in
    any offset)."""
    if timing.get("cron"):
        return ("cron", timing["cron"], timing.get("timezone") or "UTC", timing.get("day_or", True))
    if timing.get("interval") is not None:
        seconds = _DURATION.validate_python(timing["interval"]).total_seconds()
        raw_anchor = timing.get("anchor_date")
        start = datetime.fromisoformat(raw_anchor).astimezone(UTC) if raw_anchor else None
        return ("interval", seconds, start, timing.get("timezone") or "UTC")
    return ("other", sorted(timing.items()))


def next_fire_time(schedule: ScheduleConfig, after: datetime | None = None) -> datetime:
    """When `schedule` fires next after `after` (now), computed as Prefect does."""
    after = (after or datetime.now(UTC)).astimezone(ZoneInfo(schedule.timezone))
    if schedule.cron:
        from croniter import croniter

        fire: datetime = croniter(schedule.cron, after).get_next(datetime)
        return fire.astimezone(UTC)
    assert schedule.interval is not None
    start = anchor(schedule)
    steps = max(0, math.ceil((after - start) / schedule.interval))
    fire = start + steps * schedule.interval
    if fire <= after:
        fire += schedule.interval
    return fire.astimezone(UTC)
