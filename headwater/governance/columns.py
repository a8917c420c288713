"""The columns a load delivered, observed while dlt extracts it.

Schema drift compares what a load delivered with the accepted baseline. The warehouse table
cannot tell: dlt keeps a column the source dropped (filled with NULL from then on) and
casts a changed type into the existing column (or a `col__v_<type>` variant). So
`flows/loading.py` passes every extracted item through `DeliveredColumns.observe`: for Arrow
batches it reads their schema (no row is touched); for JSON records (REST) it reads each
record's keys, flattened the way dlt flattens nested objects.

Names are normalized with dlt's naming convention (`Order ID` -> `order_id`), types are
dlt's data types (`text`, `bigint`, `double`, `timestamp`, ...), which is what the warehouse
columns are made from.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

OWN_COLUMN_PREFIXES = ("_dlt_", "_hw_")
"""Columns dlt and Headwater add themselves: never part of a source's schema."""

NESTING_SEPARATOR = "__"
"""dlt flattens `{"a": {"b": 1}}` into the column `a__b`."""


def is_own_column(name: str) -> bool:
    """Whether `name` is a column dlt or Headwater added (not the source's)."""
    return name.startswith(OWN_COLUMN_PREFIXES)


@lru_cache(maxsize=4096)
def normalize_name(name: str) -> str:
    """The warehouse name dlt gives a source column (its default snake_case convention)."""
    return str(_naming().normalize_identifier(name))


@lru_cache(maxsize=1)
def _naming() -> Any:
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return NamingConvention()


def arrow_type(data_type: Any) -> str | None:
    """dlt's data type for an Arrow type, None when it has none (an all-null column)."""
    from dlt.common.libs.pyarrow import get_column_type_from_py_arrow

    try:
        found = get_column_type_from_py_arrow(data_type).get("data_type")
    except Exception:  # a type dlt cannot map: it would say so itself at load time
        return None
    return str(found) if found else None


def python_type(value: Any) -> str | None:
    """dlt's data type for a JSON value, None for null."""
    if value is None:
        return None
    from dlt.common.data_types import py_type_to_sc_type

    try:
        return str(py_type_to_sc_type(type(value)))
    except Exception:
        return None


class DeliveredColumns:
    """Collects column -> type over every item of one load, in first-seen order.

    A column seen only with nulls has type None (unknown), so it is never reported as a
    type change; the first non-null type seen wins."""

    def __init__(self) -> None:
        self.columns: dict[str, str | None] = {}
        """Warehouse column name -> dlt data type (None: only nulls seen)."""

    def observe(self, item: Any) -> Any:
        """Record `item`'s columns and hand it on unchanged (a dlt `add_map` step)."""
        schema = getattr(item, "schema", None)
        if schema is not None and hasattr(schema, "names"):  # pa.Table or pa.RecordBatch
            for field in schema:
                self._see(normalize_name(field.name), arrow_type(field.type))
        elif isinstance(item, dict):
            self._see_record(item, "")
        return item

    def _see_record(self, record: dict[str, Any], prefix: str) -> None:
        for key, value in record.items():
            name = prefix + normalize_name(str(key))
            if isinstance(value, dict):
                self._see_record(value, f"{name}{NESTING_SEPARATOR}")
            elif isinstance(value, list):
                continue  # lists become child tables in dlt, not columns of this one
            else:
                self._see(name, python_type(value))

    def _see(self, name: str, data_type: str | None) -> None:
        if is_own_column(name):
            return
        if self.columns.get(name) is None:
            self.columns[name] = data_type
