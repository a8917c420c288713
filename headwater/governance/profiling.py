"""Column profiles of a source table: null share, distinct count, min, max, mean, top values.

A profile reads the whole table in a read-only session with two queries: one of
aggregates for every column, one of the top values of every column (UNION ALL). Distinct
counts are exact up to `APPROX_DISTINCT_ABOVE` rows and DuckDB's HyperLogLog estimate
(`approx_count_distinct`, a few percent off) above; the profile says which. Mean is given
for numeric columns only; min, max and top values for every column but nested and binary
ones (STRUCT, LIST, MAP, BLOB: only nulls and distinct counts). Top values are shown as
text. For PII columns (findings and overrides, headwater.governance.pii_lineage) min, max
and top values are masked (`j***@e***.com`). dlt's `_dlt_*` columns are left out.

The last profile of each table is stored in the metadata DB (`table_profiles`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb
from sqlalchemy.exc import IntegrityError

from headwater.config import Project
from headwater.errors import TerminalError
from headwater.governance.pii import SKIPPED_PREFIX, column_types, require_table
from headwater.governance.pii_detectors import mask
from headwater.governance.pii_lineage import table_pii
from headwater.store import MetadataStore, utcnow
from headwater.store.pii import TableProfileRecord, load_profile
from headwater.warehouse import Warehouse, raw_schema
from headwater.warehouse.sql import quote_identifier

APPROX_DISTINCT_ABOVE = 100_000
"""Above this many rows distinct counts are estimated (approx_count_distinct)."""

TOP_VALUES = 5
"""Top values kept per column."""

_NUMERIC = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
     "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL"}
)  # fmt: skip
_OPAQUE_PREFIXES = ("STRUCT", "MAP", "UNION", "BLOB", "BIT", "VARIANT")


@dataclass
class ColumnProfile:
    """What one column holds."""

    name: str
    """Column name."""
    type: str
    """Warehouse type."""
    null_count: int
    """Rows where it is NULL."""
    null_share: float
    """null_count / rows (0 for an empty table)."""
    distinct_count: int | None
    """Distinct non-NULL values (None for nested and binary types)."""
    distinct_approx: bool
    """distinct_count is an estimate (tables over APPROX_DISTINCT_ABOVE rows)."""
    min: Any = None
    """Smallest value (masked for PII columns)."""
    max: Any = None
    """Largest value (masked for PII columns)."""
    mean: float | None = None
    """Average, numeric columns only."""
    top_values: list[dict[str, Any]] = field(default_factory=list)
    """Most frequent values: `{"value": text, "count": n}`, most frequent first (ties by
    value); masked for PII columns."""
    masked: bool = False
    """The column is PII: min, max and top values are masked."""


@dataclass
class TableProfile:
    """A profile of one source table."""

    source: str
    """Source name."""
    table: str
    """Table in `raw_<source>`."""
    row_count: int
    """Rows in the table."""
    profiled_at: datetime
    """When the profile was taken."""
    columns: list[ColumnProfile]
    """One profile per column, in table order."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


def _numeric(kind: str) -> bool:
    return kind in _NUMERIC or kind.startswith("DECIMAL")


def _opaque(kind: str) -> bool:
    return "[" in kind or kind.startswith(_OPAQUE_PREFIXES)


def _json_value(value: Any) -> Any:
    """A warehouse value as JSON: numbers stay numbers (beyond 2^53 as text), times as ISO."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def profile_columns(
    conn: duckdb.DuckDBPyConnection,
    schema: str,
    table: str,
    masked: Collection[str] = (),
) -> tuple[int, list[ColumnProfile]]:
    """(row count, column profiles) of `schema.table`; columns in `masked` are PII."""
    types = {
        name: kind
        for name, kind in column_types(conn, schema, table).items()
        if not name.startswith(SKIPPED_PREFIX)
    }
    relation = quote_identifier(schema, table)
    count_row = conn.execute(f"SELECT count(*) FROM {relation}").fetchone()
    rows = int(count_row[0]) if count_row else 0
    approx = rows > APPROX_DISTINCT_ABOVE
    expressions: list[str] = []
    for name, kind in types.items():
        column = quote_identifier(name)
        expressions.append(f"count({column})")
        if _opaque(kind):
            continue
        distinct = f"approx_count_distinct({column})" if approx else f"count(DISTINCT {column})"
        expressions += [distinct, f"min({column})", f"max({column})"]
        if _numeric(kind):
            expressions.append(f"avg({column})")
    values = list(conn.execute(f"SELECT {', '.join(expressions)} FROM {relation}").fetchone() or ())
    tops = _top_values(conn, relation, [n for n, k in types.items() if not _opaque(k)])
    profiles: list[ColumnProfile] = []
    for name, kind in types.items():
        non_null = int(values.pop(0))
        hidden = name in masked
        profile = ColumnProfile(
            name=name,
            type=kind,
            null_count=rows - non_null,
            null_share=round((rows - non_null) / rows, 6) if rows else 0.0,
            distinct_count=None,
            distinct_approx=False,
            masked=hidden,
        )
        if not _opaque(kind):
            profile.distinct_count = int(values.pop(0))
            profile.distinct_approx = approx
            low, high = values.pop(0), values.pop(0)
            if _numeric(kind):
                mean = values.pop(0)
                profile.mean = float(mean) if mean is not None else None
            profile.min = _shown(low, hidden)
            profile.max = _shown(high, hidden)
            profile.top_values = [
                {"value": mask(value) if hidden else value, "count": count}
                for value, count in tops.get(name, [])
            ]
        profiles.append(profile)
    return rows, profiles


def _shown(value: Any, hidden: bool) -> Any:
    if value is None:
        return None
    return mask(str(value)) if hidden else _json_value(value)


def _top_values(
    conn: duckdb.DuckDBPyConnection, relation: str, columns: list[str]
) -> dict[str, list[tuple[str, int]]]:
    """Column -> its TOP_VALUES most frequent non-NULL values as text, with counts."""
    if not columns:
        return {}
    parts = [
        f"(SELECT {index} AS i, CAST({quote_identifier(name)} AS VARCHAR) AS v, count(*) AS n "
        f"FROM {relation} WHERE {quote_identifier(name)} IS NOT NULL "
        f"GROUP BY {quote_identifier(name)} ORDER BY n DESC, v LIMIT {TOP_VALUES})"
        for index, name in enumerate(columns)
    ]
    tops: dict[str, list[tuple[str, int]]] = {}
    for index, value, count in conn.execute(" UNION ALL ".join(parts)).fetchall():
        tops.setdefault(columns[int(index)], []).append((str(value), int(count)))
    for found in tops.values():  # UNION ALL keeps no order across branches
        found.sort(key=lambda item: (-item[1], item[0]))
    return tops


def profile_table(
    project: Project,
    store: MetadataStore,
    source: str,
    table: str,
    conn: duckdb.DuckDBPyConnection | None = None,
) -> TableProfile:
    """Profile `raw_<source>.<table>` now, store it as the table's last profile, return it.
    TerminalError for an unknown source or table."""
    if source not in project.config.sources:
        known = ", ".join(sorted(project.config.sources)) or "none"
        raise TerminalError(f"no source '{source}' in project.yml; known sources: {known}")
    if conn is None:
        with Warehouse(project).reader() as reader:
            return profile_table(project, store, source, table, reader)
    require_table(conn, source, table)
    masked = {name for name, column in table_pii(project, store, source, table).items()
              if column.pii}
    rows, columns = profile_columns(conn, raw_schema(source), table, masked)
    profile = TableProfile(source, table, rows, utcnow(), columns)
    save_profile(store, profile)
    return profile


def save_profile(store: MetadataStore, profile: TableProfile) -> None:
    """Store `profile` as its table's last profile."""
    payload = json.dumps([asdict(column) for column in profile.columns])
    for attempt in range(2):
        try:
            with store.session() as session:
                record = load_profile(session, profile.source, profile.table)
                if record is None:
                    record = TableProfileRecord(source=profile.source, table_name=profile.table)
                    session.add(record)
                record.profiled_at = profile.profiled_at
                record.row_count = profile.row_count
                record.columns_json = payload
            return
        except IntegrityError:  # a concurrent first profile of the table: update its row
            if attempt:
                raise


def stored_profile(store: MetadataStore, source: str, table: str) -> TableProfile | None:
    """The table's last stored profile, if any."""
    with store.session() as session:
        record = load_profile(session, source, table)
        if record is None:
            return None
        columns = [ColumnProfile(**entry) for entry in json.loads(record.columns_json)]
        return TableProfile(source, table, record.row_count, record.profiled_at, columns)
