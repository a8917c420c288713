"""Sources as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from api.schemas.common import ApiModel
from api.schemas.runs import RunOut

SourceStatus = Literal["synced", "syncing", "failed", "never synced"]


class TableCount(ApiModel):
    """One warehouse table of a source."""

    name: str
    """Table name in `raw_<source>`."""
    rows: int
    """Rows in the warehouse now."""


class LastRun(ApiModel):
    """The newest sync run of a source."""

    id: str
    """Prefect flow-run id."""
    state: str
    """Its state as Prefect reports it."""
    start_time: datetime | None
    """When it started."""
    end_time: datetime | None
    """When it ended."""


class SourceOut(ApiModel):
    """A source with its state, derived from its sync runs and the warehouse."""

    name: str
    """Source name (schema `raw_<name>`)."""
    type: str
    """Connector type: files, sql, rest_api, ..."""
    description: str
    """From project.yml."""
    enabled: bool
    """Disabled sources are not served or scheduled."""
    status: SourceStatus
    """syncing (a run under way), else from the last finished run: synced or failed;
    never synced when no run finished."""
    last_run: LastRun | None
    """The newest sync run."""
    last_synced_at: datetime | None
    """End of the last successful sync."""
    age_seconds: float | None
    """Seconds since the last successful sync (freshness)."""
    rows: int
    """Rows over all its tables in the warehouse."""
    tables: list[TableCount]
    """Its warehouse tables with row counts."""


class SourceDetail(SourceOut):
    """A source with its configuration and recent runs."""

    config: dict[str, Any]
    """Its project.yml entry, credentials masked (env var names are shown, never values)."""
    recent_runs: list[RunOut]
    """Its ten newest sync runs."""


class CheckOut(ApiModel):
    """What the connector's check found."""

    ok: bool
    """The source answered and has tables to load."""
    tables: list[str]
    """Tables the next sync would load."""
    details: dict[str, str]
    """Table -> what is there (files, rows)."""
    error: str | None
    """Why the check failed."""
