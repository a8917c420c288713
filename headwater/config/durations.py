"""Durations as analysts write them in project.yml: `90s`, `15m`, `2h`, `1d`, `1h30m`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_PART = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_PATTERN = r"^\s*(\d+\s*[smhdw]\s*)+$"


def parse_duration(value: Any) -> timedelta:
    """`90s`, `15m`, `2h`, `1d`, `1w` or a combination (`1h30m`); a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 2h or 1d, got true/false")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and re.match(DURATION_PATTERN, value):
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    else:
        raise ValueError(
            f"{value!r} is not a duration; write a number with a unit: 90s, 15m, 2h, 1d, "
            "1w, or a combination such as 1h30m"
        )
    if seconds <= 0:
        raise ValueError(f"a duration must be longer than zero, got {value!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest `1d2h`-style text for a duration (what project.yml would say)."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": "A duration: 90s, 15m, 2h, 1d, 1w or 1h30m (a number is seconds)",
        }
    ),
]
"""A length of time written as `15m`, `2h`, `1d` (or seconds as a number)."""
