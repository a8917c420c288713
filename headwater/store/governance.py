"""Governance tables of the metadata DB: drift baselines and events, row-count history,
monitoring runs and their results, and stale-source episodes.

Flows write them in their own processes (`MetadataStore.open(project)`); the API and the
CLI read them. Column lists and changes are JSON: they are read whole, never queried into.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from headwater.store.models import Base
from headwater.store.types import utcnow


class DriftBaseline(Base):
    """The accepted schema of one source table, and the schema its last load delivered."""

    __tablename__ = "drift_baselines"
    __table_args__ = (UniqueConstraint("source", "table_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    table_name: Mapped[str] = mapped_column(String(200))
    columns: Mapped[dict[str, Any]] = mapped_column(JSON)
    """Accepted column -> dlt data type (None: only nulls seen), in column order."""
    current_columns: Mapped[dict[str, Any]] = mapped_column(JSON)
    """What the last load that delivered rows or a header had: accepting drift makes it
    the baseline."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    """When `columns` last changed (an additive change, or an acceptance)."""


class DriftEvent(Base):
    """A load whose columns differed from the baseline."""

    __tablename__ = "drift_events"
    __table_args__ = (Index("ix_drift_events_source_table", "source", "table_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    table_name: Mapped[str] = mapped_column(String(200))
    detected_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    breaking: Mapped[bool]
    """A column removed or its type changed; additive-only events are not breaking."""
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    """[{column, change: added | removed | type_changed, old_type, new_type}]."""
    observed: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The columns that load delivered."""
    accepted_at: Mapped[datetime | None]
    """When someone accepted it (additive events: when the baseline took it)."""
    accepted_by: Mapped[str | None] = mapped_column(String(254))
    """Who accepted it: an email, `cli:<os user>`, or `automatic` for additive changes."""
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    """The sync run that found it."""


class RowCountSnapshot(Base):
    """A table's rows in the warehouse right after a sync: monitoring compares the last two."""

    __tablename__ = "row_count_history"
    __table_args__ = (Index("ix_row_count_history_table", "source", "table_name", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    table_name: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int]
    """Rows in the warehouse table after the sync."""
    loaded_rows: Mapped[int]
    """Rows that sync loaded."""
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))


class MonitoringRun(Base):
    """One run of the monitoring checks."""

    __tablename__ = "monitoring_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    checks: Mapped[int] = mapped_column(default=0)
    warnings: Mapped[int] = mapped_column(default=0)


class MonitoringResult(Base):
    """One check of a monitoring run: a source's freshness, a table's row-count change or
    its reconciliation."""

    __tablename__ = "monitoring_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_runs.id", ondelete="CASCADE"), index=True
    )
    check: Mapped[str] = mapped_column(String(30))
    """freshness, row_count_change or reconciliation."""
    source: Mapped[str] = mapped_column(String(100))
    table_name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    """ok, warning or skipped (nothing to compare)."""
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StaleEpisode(Base):
    """A stretch of time a source was stale: its notification is sent once, when it opens."""

    __tablename__ = "stale_episodes"
    __table_args__ = (Index("ix_stale_episodes_source", "source", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    """When monitoring first found it stale."""
    ended_at: Mapped[datetime | None]
    """When monitoring found it fresh again (None: still stale)."""
    last_success_at: Mapped[datetime | None]
    """Its last successful sync when the episode opened."""
