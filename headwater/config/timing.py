"""When something runs: a cron expression in a time zone, or a fixed interval."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import field_validator, model_validator

from headwater.config.base import StrictModel
from headwater.config.durations import Duration

MIN_INTERVAL = timedelta(seconds=60)
"""The shortest schedule interval accepted: Prefect's scheduler plans runs ahead and a
shorter interval floods the run history."""


def check_cron(expression: str) -> str:
    """A five-field cron expression that croniter (Prefect's parser) accepts."""
    from croniter import croniter

    fields = expression.split()
    if len(fields) != 5 or not croniter.is_valid(expression):
        raise ValueError(
            f"'{expression}' is not a valid cron expression; use five fields: minute hour "
            "day-of-month month day-of-week, e.g. '0 6 * * *' for 06:00 every day"
        )
    return expression


def check_timezone(name: str) -> str:
    """An IANA time zone name (`Europe/Lisbon`, `UTC`)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{name}' is not a time zone; use an IANA name such as UTC, Europe/Lisbon or "
            "America/New_York"
        ) from None
    return name


class Timing(StrictModel):
    """Exactly one of `cron` (with `timezone`) or `interval`."""

    cron: str | None = None
    """Cron expression, e.g. `0 6 * * *` (06:00 every day)."""
    interval: Duration | None = None
    """Run every so long instead of on a cron: `15m`, `2h`, `1d` (at least 1m)."""
    timezone: str = "UTC"
    """IANA time zone of the cron expression, e.g. `Europe/Lisbon`."""
    enabled: bool = True
    """Disabled schedules are validated and listed but never run."""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("interval")
    @classmethod
    def _long_enough(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < MIN_INTERVAL:
            raise ValueError(f"an interval must be at least 1m, got {int(value.total_seconds())}s")
        return value

    @model_validator(mode="after")
    def _one_timing(self) -> Timing:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("set exactly one of `cron` (with `timezone`) or `interval`")
        return self
