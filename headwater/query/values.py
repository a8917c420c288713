"""DuckDB's Python values as JSON values, the same way in query results and NDJSON exports.

DECIMAL becomes a JSON number (the column's type says its precision; the Parquet and Arrow
exports keep decimals exact). NaN and infinities, which JSON lacks, become the strings
"NaN", "Infinity" and "-Infinity". Dates, times and timestamps become ISO 8601 strings,
INTERVAL an ISO 8601 duration, UUID its text, BLOB base64, lists lists and STRUCT and MAP
objects (keys as text).
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

JsonValue = None | bool | int | float | str | list[Any] | dict[str, Any]
"""A value `json.dumps` can write."""

_PLAIN_TYPES = frozenset(
    {
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "UHUGEINT",
        "VARCHAR",
        "JSON",
    }
)
"""DuckDB types whose Python values already are JSON values (no conversion needed)."""


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _duration(value: dt.timedelta) -> str:
    micros = value // dt.timedelta(microseconds=1)
    sign = "-" if micros < 0 else ""
    days, rest = divmod(abs(micros), 86_400_000_000)
    seconds, micros = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    fraction = f".{micros:06d}".rstrip("0") if micros else ""
    return f"{sign}P{days}DT{hours}H{minutes}M{seconds}{fraction}S"


def to_json_value(value: object) -> JsonValue:
    """`value` (as DuckDB's Python API returns it) as a JSON value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, Decimal):
        return _float(float(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {_key(key): to_json_value(item) for key, item in value.items()}
    return str(value)


def _key(key: object) -> str:
    converted = to_json_value(key)
    return converted if isinstance(converted, str) else str(converted)


def _identity(value: object) -> JsonValue:
    return value  # type: ignore[return-value]  # only used for _PLAIN_TYPES columns


def row_converter(column_types: Sequence[str]) -> Callable[[Sequence[object]], list[JsonValue]]:
    """A function turning one result row into JSON values, skipping the conversion for
    columns whose values need none (the common integers and text)."""
    converters = [_identity if kind in _PLAIN_TYPES else to_json_value for kind in column_types]

    def convert(row: Sequence[object]) -> list[JsonValue]:
        return [convert_one(value) for convert_one, value in zip(converters, row, strict=True)]

    return convert
