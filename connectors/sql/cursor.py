"""Cursor values from project.yml and backfill windows, converted to the cursor column's type.

dlt compares the saved cursor with the values in each Arrow batch, so `2024-01-01` from YAML
or `"2024-01-01T00:00"` from a backfill must become a datetime for a timestamp column, an
int for an integer column, and so on; a tz-aware column gets tz-aware values (UTC assumed).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from headwater.config.sources import CursorValue


def coerce_cursor_value(value: CursorValue, column_type: sa.types.TypeEngine[Any]) -> Any:
    """`value` as the Python type the driver returns for `column_type`; ValueError when it
    does not parse."""
    if isinstance(column_type, sa.DateTime):
        return _as_datetime(value, aware=bool(column_type.timezone))
    if isinstance(column_type, sa.Date):
        if isinstance(value, datetime):
            return value.date()
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if isinstance(column_type, sa.Integer):
        number = _as_decimal(value)
        if number != number.to_integral_value():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    if isinstance(column_type, sa.Numeric):
        number = _as_decimal(value)
        return number if column_type.asdecimal else float(number)
    return value if isinstance(value, str) else str(value)


def _as_decimal(value: CursorValue) -> Decimal:
    if isinstance(value, date):
        raise ValueError(f"{value!r} is not a number")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _as_datetime(value: CursorValue, aware: bool) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if aware and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    if not aware and moment.tzinfo is not None:
        # A naive column holds wall-clock values; compare in UTC like the pyarrow backend.
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment
