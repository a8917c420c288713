"""Schema drift, attention, freshness and monitoring as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from api.schemas.common import ApiModel, RequestModel


class ColumnChangeOut(ApiModel):
    """One column that differs from the baseline."""

    column: str
    """Warehouse column name."""
    change: Literal["added", "removed", "type_changed"]
    """added (additive), removed or type_changed (breaking)."""
    old_type: str | None
    """Its type in the baseline (null when added)."""
    new_type: str | None
    """Its type in the load (null when removed)."""


class DriftEventOut(ApiModel):
    """A sync whose columns differed from the table's baseline."""

    id: int
    """Event id."""
    source: str
    """Source name."""
    table: str
    """Table name (in `raw_<source>`)."""
    detected_at: datetime
    """When the sync found it."""
    breaking: bool
    """A column removed or its type changed: holds back the dbt build until accepted."""
    changes: list[ColumnChangeOut]
    """What differs."""
    accepted_by: str | None
    """Who accepted it: an email, `cli:<user>`, or `automatic` for additive changes."""
    accepted_at: datetime | None
    """When it was accepted (null: open)."""
    run_id: str | None
    """The Prefect flow run of the sync that found it."""


class AcceptRequest(RequestModel):
    """Which drift to accept."""

    table: str | None = None
    """Only this table of the source (default: every table of the source)."""


class AcceptOut(ApiModel):
    """What accepting drift did."""

    source: str
    """Source name."""
    tables: list[str]
    """Tables whose baseline is now the schema their last sync delivered."""
    accepted_events: int
    """Open breaking events marked accepted (0: there were none)."""


class ReasonOut(ApiModel):
    """One reason a source needs attention."""

    kind: Literal["breaking_drift", "new_pii", "failing_sync", "stale", "failing_dbt_tests"]
    """What is wrong."""
    message: str
    """One line for people."""
    details: dict[str, Any]
    """The facts behind it."""


class SourceAttentionOut(ApiModel):
    """A source that needs attention."""

    source: str
    """Source name."""
    reasons: list[ReasonOut]
    """Why (at least one)."""


class AttentionOut(ApiModel):
    """Sources needing attention (one page of them)."""

    items: list[SourceAttentionOut]
    """The sources of this page, in project.yml order."""
    total: int
    """How many sources need attention."""
    not_checked: dict[str, str]
    """Reason kind -> why it could not be checked now (e.g. Prefect did not answer)."""


class FreshnessOut(ApiModel):
    """How fresh a source is."""

    source: str
    """Source name."""
    state: Literal["fresh", "stale", "never_synced", "unmonitored"]
    """Against its threshold; unmonitored: no `freshness` and no schedule."""
    stale: bool
    """Its last successful sync is older than the threshold."""
    last_success_at: datetime | None
    """End of its last successful sync."""
    threshold_seconds: float | None
    """How old the last successful sync may be."""
    threshold_from: str | None
    """`freshness: 6h`, or `2 x schedule nightly (1d)`."""
    reason: str
    """One line for people."""


class CheckOut(ApiModel):
    """One monitoring check."""

    check: Literal["freshness", "row_count_change", "reconciliation"]
    """What it looks at."""
    source: str
    """Source name."""
    table: str | None
    """Table name (null for freshness)."""
    status: Literal["ok", "warning", "skipped"]
    """ok, warning, or skipped (nothing to compare, with the reason)."""
    message: str
    """One line for people."""
    details: dict[str, Any]
    """The numbers behind it."""


class MonitoringOut(ApiModel):
    """The latest monitoring run."""

    ran_at: datetime | None
    """When it finished (null: monitoring never ran; start it with POST /api/monitoring/run)."""
    run_id: str | None
    """Its Prefect flow run."""
    warnings: int
    """Checks that warn."""
    results: list[CheckOut]
    """The checks (filtered by `status` / `check` when asked), warnings first."""
