"""`governance:` in project.yml: schema drift, PII scanning and overrides, monitoring."""

from __future__ import annotations

from pydantic import Field, model_validator

from headwater.config.base import Identifier, StrictModel


class PiiOverride(StrictModel):
    """A person's decision about one column: PII or not, whatever the scan found."""

    source: Identifier | None = None
    """Source of the column (with `table`); omit for a dbt model (use `model`)."""
    table: str | None = None
    """Warehouse table of the source."""
    model: str | None = None
    """dbt model name, instead of `source` and `table`."""
    column: str
    """Column name."""
    pii: bool
    """true: treat as PII; false: not PII (a false positive of the scan)."""
    reason: str = Field(min_length=1)
    """Why, for the audit trail."""

    @model_validator(mode="after")
    def _one_target(self) -> PiiOverride:
        by_source = self.source is not None and self.table is not None
        if by_source == (self.model is not None) or (
            self.model is None and (self.source is None or self.table is None)
        ):
            raise ValueError("set either `source` and `table`, or `model`")
        return self


class GovernanceConfig(StrictModel):
    """Drift, PII and monitoring settings."""

    drift_checks: bool = True
    """Compare each sync's schema against the accepted baseline."""
    block_dbt_on_breaking_drift: bool = True
    """Hold back the dbt build downstream of a source with unaccepted breaking drift."""
    pii_scan: bool = True
    """Scan sampled text values for PII after each sync."""
    profile_after_sync: bool = True
    """Profile each loaded table after its sync (nulls, distinct values, min, max, mean,
    top values): one read of the whole table; turn off for very large tables and profile
    on demand (`headwater profile`, `POST /api/catalog/{source}/{table}/profile`)."""
    pii_sample_rows: int = Field(default=1000, ge=10, le=1_000_000)
    """Rows sampled per table by the PII scan."""
    pii_min_share: float = Field(default=0.2, gt=0, le=1)
    """Share of non-empty samples that must match a kind for the column to count as PII."""
    pii_overrides: list[PiiOverride] = Field(default_factory=list)
    """Columns declared PII or not PII by a person."""
    row_count_change_threshold: float = Field(default=0.5, gt=0)
    """Monitoring flags a table whose row count changed by more than this share between
    two syncs (0.5: more than 50% up or down)."""
