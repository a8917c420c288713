"""Arrow columns that a file writer cannot take, rewritten as text.

pyarrow's CSV writer refuses nested types and intervals and writes BLOBs as raw bytes; its
Parquet writer refuses intervals and unions. Such columns become text: ISO 8601 durations
for intervals, base64 for binary, JSON for nested values.
"""

from __future__ import annotations

import base64
import json
from array import array
from collections.abc import Callable

import pyarrow as pa

from headwater.query.values import to_json_value

BatchConverter = Callable[[pa.RecordBatch], pa.RecordBatch]
"""Rewrites one record batch to the converted schema."""


def _contains(kind: pa.DataType, leaf: Callable[[pa.DataType], bool]) -> bool:
    if leaf(kind):
        return True
    return any(_contains(kind.field(index).type, leaf) for index in range(kind.num_fields))


def csv_unwritable(kind: pa.DataType) -> bool:
    """Types pyarrow's CSV writer refuses or writes as raw bytes."""
    return bool(
        pa.types.is_nested(kind)
        or pa.types.is_interval(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
    )


def parquet_unwritable(kind: pa.DataType) -> bool:
    """Types pyarrow's Parquet writer refuses, at any depth."""
    return _contains(kind, lambda leaf: pa.types.is_interval(leaf) or pa.types.is_union(leaf))


def _plain(value: object) -> object:
    """pyarrow's Python values that `to_json_value` does not know, made plain."""
    if isinstance(value, pa.MonthDayNano):
        months, days, nanoseconds = value
        return f"P{months}M{days}DT{nanoseconds / 1e9:g}S"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def as_text(value: object) -> str | None:
    """One value as text: strings as they are, anything else as JSON."""
    converted = to_json_value(_plain(value))
    if converted is None or isinstance(converted, str):
        return converted
    return json.dumps(converted, ensure_ascii=False)


def text_columns(
    schema: pa.Schema, unwritable: Callable[[pa.DataType], bool]
) -> tuple[pa.Schema, BatchConverter | None]:
    """The schema with the `unwritable` columns as strings, and the converter of batches
    (None when no column needs it)."""
    changed = [index for index, field in enumerate(schema) if unwritable(field.type)]
    if not changed:
        return schema, None
    converted = pa.schema(
        [
            pa.field(field.name, pa.string()) if index in changed else field
            for index, field in enumerate(schema)
        ]
    )

    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = list(batch.columns)
        for index in changed:
            values = _microseconds(columns[index]).to_pylist()
            columns[index] = string_array([as_text(value) for value in values])
        return pa.RecordBatch.from_arrays(columns, schema=converted)

    return converted, convert


def _without_nanoseconds(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(kind) and kind.unit == "ns":
        return pa.timestamp("us", kind.tz)
    if pa.types.is_list(kind):
        return pa.list_(_without_nanoseconds(kind.value_type))
    if pa.types.is_large_list(kind):
        return pa.large_list(_without_nanoseconds(kind.value_type))
    if pa.types.is_fixed_size_list(kind):
        return pa.list_(_without_nanoseconds(kind.value_type), kind.list_size)
    if pa.types.is_map(kind):
        return pa.map_(_without_nanoseconds(kind.key_type), _without_nanoseconds(kind.item_type))
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_without_nanoseconds(field.type)) for field in kind])
    return kind


def _microseconds(column: pa.Array) -> pa.Array:
    """`column` with nanosecond timestamps (nested ones too) cut to microseconds: Python's
    datetime holds no more, and pyarrow would import pandas to convert them."""
    target = _without_nanoseconds(column.type)
    return column if target == column.type else column.cast(target, safe=False)


def string_array(values: list[str | None]) -> pa.Array:
    """An Arrow string array built from its buffers: `pa.array()` imports pandas to check
    its input (about 2 s, once per process), which an export should not pay."""
    offsets = array("i", [0])
    data = bytearray()
    validity = bytearray((len(values) + 7) // 8)
    nulls = 0
    for index, value in enumerate(values):
        if value is None:
            nulls += 1
        else:
            data += value.encode("utf-8")
            validity[index >> 3] |= 1 << (index & 7)
        offsets.append(len(data))
    buffers = [pa.py_buffer(validity), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(values), buffers, null_count=nulls)
