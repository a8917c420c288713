"""PII findings, overrides and column profiles as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.schemas.common import ApiModel


class PiiFindingOut(ApiModel):
    """One PII kind a scan found in a column."""

    kind: str
    """email, phone, card_number, iban, ip_address, us_ssn, uk_nino, es_dni, pt_nif, name,
    address, birth_date or national_id."""
    share: float | None
    """Share of non-empty sampled values that matched (null: values not scanned)."""
    matches: int
    """Sampled values that matched."""
    sample_size: int
    """Non-empty values sampled."""
    evidence: list[str]
    """`values` (the samples matched), `name_hint` (the column's name), or both."""
    masked_example: str | None
    """One matching value, masked (`j***@e***.com`); values are never stored."""
    column_type: str | None
    """The column's type when scanned."""
    first_seen_at: datetime
    """The scan that first found it."""
    detected_at: datetime
    """The latest scan that found it."""
    new: bool
    """First found by its latest scan."""


class PiiColumnOut(ApiModel):
    """A column with PII evidence or an override, and its effective flag."""

    relation: str
    """`schema.table` in the warehouse."""
    source: str | None
    """The source (raw columns)."""
    table: str
    """The source table or model table."""
    model: str | None
    """The dbt model (model columns)."""
    column: str
    """Column name."""
    kinds: list[str]
    """PII kinds found or inherited (`declared`: only an override says PII)."""
    share: float | None
    """Highest share of matching samples over its kinds (null: none scanned)."""
    sample_size: int | None
    """Non-empty values sampled (raw columns)."""
    evidence: list[str]
    """`values`, `name_hint`, `lineage from raw_x.t.c`, `override: <reason>`."""
    lineage_from: list[str]
    """Raw columns the PII came from (model columns)."""
    findings: list[PiiFindingOut]
    """Per kind, what the scans found (raw columns)."""
    first_seen_at: datetime | None
    """When a scan first found PII in it."""
    detected_at: datetime | None
    """The latest scan that found PII in it."""
    new: bool
    """First found by its latest scan, and PII."""
    overridden: bool
    """A `governance.pii_overrides` entry decides it."""
    override_reason: str | None
    """That entry's reason."""
    pii: bool
    """Effective flag: the override's decision, else the evidence."""


class PiiOverrideOut(ApiModel):
    """One `governance.pii_overrides` entry of project.yml."""

    source: str | None
    """Source (with `table`)."""
    table: str | None
    """Source table."""
    model: str | None
    """dbt model, instead of source and table."""
    column: str
    """Column name."""
    pii: bool
    """true: PII; false: not PII, whatever the scan found."""
    reason: str
    """Why."""


class ColumnProfileOut(ApiModel):
    """What one column holds, from the table's last profile."""

    null_count: int
    """Rows where it is NULL."""
    null_share: float
    """Share of rows where it is NULL."""
    distinct_count: int | None
    """Distinct non-NULL values (null for nested and binary types)."""
    distinct_approx: bool
    """distinct_count is an estimate (tables over 100,000 rows)."""
    min: Any
    """Smallest value (masked for PII columns)."""
    max: Any
    """Largest value (masked for PII columns)."""
    mean: float | None
    """Average, numeric columns only."""
    top_values: list[dict[str, Any]]
    """Most frequent values as `{"value": text, "count": n}` (masked for PII columns)."""
    masked: bool
    """min, max and top values are masked: the column was PII when profiled."""


class ProfiledColumnOut(ColumnProfileOut):
    """A column profile with its column."""

    name: str
    """Column name."""
    type: str
    """Warehouse type."""


class TableColumnOut(ApiModel):
    """A column of a source table with its PII flag and last profile."""

    name: str
    """Column name."""
    type: str
    """Warehouse type."""
    pii: bool
    """Effective PII flag (findings and overrides)."""
    pii_kinds: list[str]
    """PII kinds."""
    profile: ColumnProfileOut | None
    """From the table's last profile (null: not profiled, or the column is newer)."""


class TableColumnsOut(ApiModel):
    """The columns of `raw_<source>.<table>`."""

    source: str
    """Source name."""
    table: str
    """Table name."""
    relation: str
    """`raw_<source>.<table>`."""
    row_count: int | None
    """Rows at the last profile (null: never profiled)."""
    profiled_at: datetime | None
    """When the last profile was taken."""
    columns: list[TableColumnOut]
    """Columns in table order."""


class TableProfileOut(ApiModel):
    """A profile of `raw_<source>.<table>`, just taken."""

    source: str
    """Source name."""
    table: str
    """Table name."""
    row_count: int
    """Rows in the table."""
    profiled_at: datetime
    """When it was taken."""
    columns: list[ProfiledColumnOut]
    """Column profiles in table order."""
