"""Monitoring checks: freshness per source, row-count changes between the last two syncs of
each table, and source-vs-warehouse reconciliation counts. Results go to the metadata DB.

The `run_monitoring` flow (flows/monitoring.py, deployment `monitoring`, hourly) counts the
rows at the sources through the connectors and calls `run_checks`; this module never imports
connectors or Prefect, so the API and the CLI read the results directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from headwater.config import Project
from headwater.errors import HeadwaterError
from headwater.governance.freshness import Freshness, source_freshness
from headwater.notify import NotificationEvent, publish
from headwater.store import MetadataStore
from headwater.store.governance import (
    MonitoringResult,
    MonitoringRun,
    RowCountSnapshot,
    StaleEpisode,
)
from headwater.store.types import utcnow
from headwater.warehouse import Warehouse, raw_schema

logger = logging.getLogger("headwater.governance")

MONITORING_FLOW = "run_monitoring"
"""The Prefect flow that runs the checks."""
MONITORING_DEPLOYMENT = "monitoring"
"""Its deployment: served on MONITORING_INTERVAL, started by `POST /api/monitoring/run`."""
MONITORING_CRON = "7 * * * *"
"""When the served deployment runs the checks: hourly, a few minutes after syncs that
start on the hour."""
KEEP_RUNS = 500
"""Monitoring runs kept (with their results); older ones are deleted (three weeks hourly)."""
KEEP_ROW_COUNTS = 50
"""Row-count snapshots kept per table (monitoring compares the last two)."""

CheckKind = Literal["freshness", "row_count_change", "reconciliation"]
"""What a check looks at."""
CheckStatus = Literal["ok", "warning", "skipped"]
"""ok; warning: someone should look; skipped: nothing to compare (yet), with the reason."""


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome."""

    check: CheckKind
    """freshness, row_count_change or reconciliation."""
    source: str
    """Source name."""
    table: str | None
    """Table name (None for freshness, which is per source)."""
    status: CheckStatus
    """ok, warning or skipped."""
    message: str
    """One line for people."""
    details: dict[str, Any] = field(default_factory=dict)
    """The numbers behind it (JSON-safe)."""


@dataclass(frozen=True)
class SourceCount:
    """What a connector counted at the source for one table."""

    rows: int | None
    """Rows at the source (None: the connector cannot count, or counting failed)."""
    note: str | None = None
    """Why there is no count, or what limits the comparison (an incremental window)."""


@dataclass(frozen=True)
class MonitoringReport:
    """One monitoring run and its results."""

    id: int
    """Its id in the metadata DB."""
    started_at: datetime
    """When it started."""
    finished_at: datetime | None
    """When it finished."""
    flow_run_id: str | None
    """The Prefect flow run that ran it."""
    results: list[CheckResult]
    """Every check, warnings first."""

    @property
    def warnings(self) -> int:
        """How many checks warn."""
        return sum(1 for result in self.results if result.status == "warning")


# --- row-count history (written after each sync) ---------------------------------------


def record_row_counts(
    project: Project,
    store: MetadataStore,
    source: str,
    loaded: dict[str, int],
    flow_run_id: str | None = None,
) -> dict[str, int]:
    """Record each synced table's warehouse row count (table -> rows loaded by the sync);
    returns the counts recorded. Old snapshots beyond KEEP_ROW_COUNTS per table go."""
    warehouse = Warehouse(project)
    schema = raw_schema(source)
    with warehouse.reader() as conn:
        counts = warehouse.row_counts(conn, schema)
    recorded = {table: counts[(schema, table)] for table in loaded if (schema, table) in counts}
    now = utcnow()
    with store.session() as session:
        for table, rows in recorded.items():
            session.add(RowCountSnapshot(source=source, table_name=table, rows=rows,
                                         loaded_rows=loaded[table], recorded_at=now,
                                         flow_run_id=flow_run_id))
        session.flush()
        for table in recorded:
            stale = select(RowCountSnapshot.id).where(
                RowCountSnapshot.source == source, RowCountSnapshot.table_name == table
            ).order_by(RowCountSnapshot.recorded_at.desc(), RowCountSnapshot.id.desc())
            old = list(session.scalars(stale.offset(KEEP_ROW_COUNTS)))
            if old:
                session.execute(delete(RowCountSnapshot).where(RowCountSnapshot.id.in_(old)))
    return recorded


# --- the checks ---------------------------------------------------------------------------


def freshness_checks(freshness: dict[str, Freshness]) -> list[CheckResult]:
    """One result per source: stale and never-synced sources warn."""
    results = []
    for name, fresh in freshness.items():
        status: CheckStatus = (
            "ok" if fresh.state == "fresh"
            else "skipped" if fresh.state == "unmonitored"
            else "warning"
        )
        details = {
            "state": fresh.state,
            "last_success_at": fresh.last_success_at.isoformat() if fresh.last_success_at else None,
            "threshold_seconds": fresh.threshold.total_seconds() if fresh.threshold else None,
            "threshold_from": fresh.threshold_from,
        }
        results.append(CheckResult("freshness", name, None, status, fresh.reason, details))
    return results


def row_count_checks(project: Project, session: Session) -> list[CheckResult]:
    """One result per synced table of a configured source: the change between its last two
    syncs against `governance.row_count_change_threshold`."""
    threshold = project.config.governance.row_count_change_threshold
    history: dict[tuple[str, str], list[RowCountSnapshot]] = {}
    query = select(RowCountSnapshot).order_by(
        RowCountSnapshot.source, RowCountSnapshot.table_name,
        RowCountSnapshot.recorded_at.desc(), RowCountSnapshot.id.desc(),
    )
    for snapshot in session.scalars(query):
        if snapshot.source in project.config.sources:
            history.setdefault((snapshot.source, snapshot.table_name), []).append(snapshot)
    return [
        _row_count_result(source, table, snapshots, threshold)
        for (source, table), snapshots in history.items()
    ]


def _row_count_result(
    source: str, table: str, snapshots: list[RowCountSnapshot], threshold: float
) -> CheckResult:
    if len(snapshots) < 2:
        return CheckResult("row_count_change", source, table, "skipped",
                           "only one sync recorded: nothing to compare yet",
                           {"rows": snapshots[0].rows})
    new, old = snapshots[0].rows, snapshots[1].rows
    details: dict[str, Any] = {
        "previous_rows": old,
        "rows": new,
        "threshold": threshold,
        "previous_at": snapshots[1].recorded_at.isoformat(),
        "at": snapshots[0].recorded_at.isoformat(),
    }
    # None: grew from an empty table, which no share describes.
    change = (new - old) / old if old else (0.0 if new == 0 else None)
    details["change"] = None if change is None else round(change, 4)
    moved = f"{old:,} -> {new:,} rows" + (f" ({change:+.0%})" if change is not None else "")
    if change is None or abs(change) > threshold:
        return CheckResult("row_count_change", source, table, "warning",
                           f"{moved} between the last two syncs, beyond the "
                           f"{threshold:.0%} threshold", details)
    return CheckResult("row_count_change", source, table, "ok",
                       f"{moved} between the last two syncs", details)


def warehouse_counts(project: Project) -> dict[tuple[str, str], int]:
    """(source, table) -> rows in the warehouse, for the configured sources."""
    schemas = {raw_schema(name): name for name in project.config.sources}
    warehouse = Warehouse(project)
    with warehouse.reader() as conn:
        counts = warehouse.row_counts(conn)
    return {
        (schemas[schema], table): rows
        for (schema, table), rows in counts.items()
        if schema in schemas
    }


def reconciliation_checks(
    source_counts: dict[tuple[str, str], SourceCount],
    in_warehouse: dict[tuple[str, str], int],
) -> list[CheckResult]:
    """One result per counted table: equal counts are ok, different ones warn."""
    results = []
    for (source, table), counted in source_counts.items():
        warehouse_rows = in_warehouse.get((source, table))
        details: dict[str, Any] = {"source_rows": counted.rows, "warehouse_rows": warehouse_rows}
        if counted.note:
            details["note"] = counted.note
        suffix = f" ({counted.note})" if counted.note else ""
        if counted.rows is None:
            message = counted.note or "the source cannot be counted"
            results.append(CheckResult("reconciliation", source, table, "skipped", message,
                                       details))
        elif warehouse_rows is None:
            results.append(CheckResult("reconciliation", source, table, "skipped",
                                       f"not in the warehouse yet; the source has "
                                       f"{counted.rows:,} rows", details))
        elif warehouse_rows == counted.rows:
            results.append(CheckResult("reconciliation", source, table, "ok",
                                       f"{counted.rows:,} rows at the source and in the "
                                       f"warehouse{suffix}", details))
        else:
            difference = warehouse_rows - counted.rows
            details["difference"] = difference
            results.append(CheckResult(
                "reconciliation", source, table, "warning",
                f"the source has {counted.rows:,} rows, the warehouse {warehouse_rows:,} "
                f"({difference:+,}){suffix}", details,
            ))
    return results


# --- stale episodes -------------------------------------------------------------------------


def track_staleness(
    project: Project, store: MetadataStore, freshness: dict[str, Freshness]
) -> list[str]:
    """Open an episode for each source that became stale (publishing one `source_stale`
    notification), close the episodes of sources no longer stale; returns the sources that
    became stale now."""
    became: list[Freshness] = []
    now = utcnow()
    with store.session() as session:
        open_episodes = {
            episode.source: episode
            for episode in session.scalars(
                select(StaleEpisode).where(StaleEpisode.ended_at.is_(None))
            )
        }
        for name, fresh in freshness.items():
            episode = open_episodes.get(name)
            if fresh.stale and episode is None:
                session.add(StaleEpisode(source=name, started_at=now,
                                         last_success_at=fresh.last_success_at))
                became.append(fresh)
            elif not fresh.stale and episode is not None:
                episode.ended_at = now
        for name, episode in open_episodes.items():
            if name not in freshness:  # the source left project.yml
                episode.ended_at = now
    for fresh in became:
        publish(project, NotificationEvent(
            kind="source_stale",
            summary=f"source {fresh.source} is stale: {fresh.reason}",
            source=fresh.source,
            details={
                "last_success_at": fresh.last_success_at.isoformat()
                if fresh.last_success_at else None,
                "threshold_seconds": fresh.threshold.total_seconds() if fresh.threshold else None,
                "threshold_from": fresh.threshold_from,
            },
        ), store=store)
    return [fresh.source for fresh in became]


# --- a whole run ----------------------------------------------------------------------------


def run_checks(
    project: Project,
    store: MetadataStore,
    prefect_api_url: str,
    source_counts: dict[tuple[str, str], SourceCount],
    flow_run_id: str | None = None,
) -> MonitoringReport:
    """Run every check, store the results as one monitoring run, notify newly stale
    sources, and return the report. A check that cannot run (Prefect or the warehouse
    unreachable) becomes a `skipped` result saying why; it never stops the others."""
    started = utcnow()
    results: list[CheckResult] = []
    try:
        freshness = source_freshness(project, prefect_api_url)
    except HeadwaterError as exc:
        freshness = {}
        results += [
            CheckResult("freshness", name, None, "skipped", f"cannot read run history: {exc}")
            for name in project.config.sources
        ]
    results += freshness_checks(freshness)
    if freshness:
        track_staleness(project, store, freshness)
    with store.session() as session:
        results += row_count_checks(project, session)
    try:
        in_warehouse = warehouse_counts(project)
    except HeadwaterError as exc:
        in_warehouse = {}
        source_counts = {
            key: SourceCount(None, f"cannot read the warehouse: {exc}") for key in source_counts
        }
    results += reconciliation_checks(source_counts, in_warehouse)
    order = {"warning": 0, "skipped": 2, "ok": 1}
    results.sort(key=lambda r: (order[r.status], r.check, r.source, r.table or ""))
    return save_run(store, results, started, flow_run_id)


def save_run(
    store: MetadataStore,
    results: list[CheckResult],
    started_at: datetime,
    flow_run_id: str | None,
) -> MonitoringReport:
    """Store one monitoring run with its results; drop runs beyond KEEP_RUNS."""
    finished = utcnow()
    with store.session() as session:
        run = MonitoringRun(
            started_at=started_at, finished_at=finished, flow_run_id=flow_run_id,
            checks=len(results), warnings=sum(1 for r in results if r.status == "warning"),
        )
        session.add(run)
        session.flush()
        for result in results:
            session.add(MonitoringResult(
                run_id=run.id, check=result.check, source=result.source,
                table_name=result.table, status=result.status, message=result.message,
                details=result.details,
            ))
        old = list(session.scalars(
            select(MonitoringRun.id).order_by(MonitoringRun.id.desc()).offset(KEEP_RUNS)
        ))
        if old:
            session.execute(delete(MonitoringResult).where(MonitoringResult.run_id.in_(old)))
            session.execute(delete(MonitoringRun).where(MonitoringRun.id.in_(old)))
        run_id = run.id
    return MonitoringReport(run_id, started_at, finished, flow_run_id, results)


def latest_report(store: MetadataStore) -> MonitoringReport | None:
    """The newest monitoring run with its results, or None before the first run."""
    with store.session() as session:
        run = session.scalar(select(MonitoringRun).order_by(MonitoringRun.id.desc()).limit(1))
        if run is None:
            return None
        rows = session.scalars(
            select(MonitoringResult).where(MonitoringResult.run_id == run.id)
            .order_by(MonitoringResult.id)
        )
        results = [
            CheckResult(row.check, row.source, row.table_name, row.status,  # type: ignore[arg-type]
                        row.message, dict(row.details or {}))
            for row in rows
        ]
    return MonitoringReport(run.id, run.started_at, run.finished_at, run.flow_run_id, results)
