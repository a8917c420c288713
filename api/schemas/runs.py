"""Flow runs as the API shows them, and the bodies that start them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from api.schemas.common import ApiModel, RequestModel

RunState = Literal[
    "scheduled",
    "pending",
    "running",
    "completed",
    "failed",
    "cancelled",
    "crashed",
    "paused",
    "cancelling",
    "unknown",
]


class RunOut(ApiModel):
    """One Prefect flow run."""

    id: str
    """Prefect flow-run id (also the id in the Prefect UI)."""
    name: str
    """Flow-run name, e.g. `sync-orders-20261122T101500Z`."""
    kind: str
    """sync, dbt, housekeeping, or the flow's name for other flows."""
    source: str | None
    """The synced source, for sync runs."""
    state: RunState
    """The state as Prefect reports it."""
    state_name: str | None
    """Prefect's state name (e.g. `AwaitingConcurrencySlot` for a queued run)."""
    error: str | None
    """Prefect's state message for failed, crashed and cancelled runs."""
    parameters: dict[str, Any]
    """The flow's parameters."""
    expected_start_time: datetime | None
    """When the run was expected to start."""
    start_time: datetime | None
    """When it started."""
    end_time: datetime | None
    """When it ended."""
    duration_seconds: float | None
    """Seconds from start to end (so far, while running)."""
    tags: list[str]
    """The run's tags."""
    ui_url: str
    """This run in the Prefect UI."""


class TableRows(ApiModel):
    """What a sync run did to one table."""

    table: str
    """Table name (`*` for a failure before any table loaded)."""
    status: str
    """loaded or failed."""
    rows: int | None
    """Rows loaded."""
    seconds: float | None
    """Time the table took."""
    error: str | None
    """Why it failed."""


class RunDetail(RunOut):
    """One flow run with what it produced."""

    tables: list[TableRows] | None
    """Rows per table (sync runs, once finished)."""
    nodes: list[dict[str, Any]] | None
    """One row per dbt node (dbt runs, once finished)."""


class LogLine(ApiModel):
    """One log line of a run."""

    timestamp: datetime
    """When it was logged."""
    level: str
    """DEBUG, INFO, WARNING, ERROR or CRITICAL."""
    message: str
    """The message."""
    task_run_id: str | None
    """The task that logged it, if any."""


class SyncRequest(RequestModel):
    """How to sync one source."""

    full_refresh: bool = False
    """Reset incremental state and replace every table."""
    tables: list[str] | None = Field(default=None, min_length=1)
    """Only these tables (default: all)."""
    start: str | None = None
    """Backfill window start for cursor tables (ISO date or timestamp)."""
    end: str | None = None
    """Backfill window end."""
    queue: bool = False
    """When a sync of the source is already running, queue this one instead of 409."""


class MultiSyncRequest(RequestModel):
    """How to sync several sources."""

    sources: list[str] = Field(min_length=1, max_length=100)
    """Sources to sync."""
    full_refresh: bool = False
    """Reset incremental state and replace every table."""
    queue: bool = False
    """Queue behind running syncs instead of 409."""


class TriggeredRun(ApiModel):
    """A flow run the API created (or found again by its Idempotency-Key)."""

    run_id: str
    """Prefect flow-run id; poll `GET /api/runs/{run_id}`."""
    source: str | None
    """The source, for syncs."""
    deployment: str
    """`flow/deployment` that runs it."""
    state: RunState
    """The run's state right now."""
    replayed: bool
    """True when an earlier request with the same Idempotency-Key created it."""
    ui_url: str
    """The run in the Prefect UI."""


class TriggerResponse(ApiModel):
    """The runs a trigger started."""

    runs: list[TriggeredRun]
    """One per source (or one dbt build)."""
