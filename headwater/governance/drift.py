"""Schema drift: each sync's delivered columns against the table's accepted baseline.

The first load of a table that delivers columns records them as its baseline. Later loads
compare: an added column is additive (the baseline takes it at once, and an event records
it); a removed column or a changed type is breaking: an event records it, the baseline stays,
and while the event is not accepted the source needs attention and, with
`governance.block_dbt_on_breaking_drift`, the dbt build after its syncs is held back.
Accepting makes the schema the last load delivered the baseline.

A load that delivered nothing (an unchanged file skipped, no new rows past a cursor) says
nothing about the schema and is not compared.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from headwater.config import Project
from headwater.governance.columns import is_own_column
from headwater.notify import NotificationEvent, publish
from headwater.store import MetadataStore
from headwater.store.governance import DriftBaseline, DriftEvent
from headwater.store.types import utcnow

logger = logging.getLogger("headwater.governance")

ChangeKind = Literal["added", "removed", "type_changed"]
"""What happened to a column."""

AUTOMATIC = "automatic"
"""`accepted_by` of additive events: the baseline took them without anyone's decision."""


@dataclass(frozen=True)
class ColumnChange:
    """One column that differs from the baseline."""

    column: str
    """Warehouse column name."""
    change: ChangeKind
    """added, removed or type_changed."""
    old_type: str | None
    """Its type in the baseline (None when added)."""
    new_type: str | None
    """Its type in the load (None when removed)."""

    @property
    def breaking(self) -> bool:
        """Removed columns and type changes break what reads the table; additions do not."""
        return self.change != "added"

    def describe(self) -> str:
        """`email added (text)`, `name removed`, `amount bigint -> double`."""
        if self.change == "added":
            return f"{self.column} added ({self.new_type or 'unknown type'})"
        if self.change == "removed":
            return f"{self.column} removed"
        return f"{self.column} {self.old_type} -> {self.new_type}"


@dataclass(frozen=True)
class DriftFinding:
    """A new drift event a sync recorded."""

    event_id: int
    """Its id in the metadata DB."""
    source: str
    """Source name."""
    table: str
    """Table name."""
    breaking: bool
    """Whether it holds the source back until accepted."""
    changes: list[ColumnChange]
    """What differs."""

    def summary(self) -> str:
        """One line for people."""
        kind = "breaking" if self.breaking else "additive"
        described = "; ".join(change.describe() for change in self.changes)
        return f"{kind} schema drift in {self.source}.{self.table}: {described}"


@dataclass(frozen=True)
class Acceptance:
    """What accepting drift did."""

    source: str
    """Source name."""
    tables: list[str]
    """Tables whose baseline became their current schema."""
    events: int
    """Breaking events marked accepted."""


def compare(baseline: dict[str, Any], delivered: dict[str, Any]) -> list[ColumnChange]:
    """How `delivered` differs from `baseline` (column -> type; None: unknown type):
    removed and changed columns in baseline order, then added ones in delivered order.
    dlt's and Headwater's own columns are ignored; an unknown type never counts as a change."""
    changes: list[ColumnChange] = []
    for column, old_type in baseline.items():
        if is_own_column(column):
            continue
        if column not in delivered:
            changes.append(ColumnChange(column, "removed", old_type, None))
            continue
        new_type = delivered[column]
        if old_type is not None and new_type is not None and old_type != new_type:
            changes.append(ColumnChange(column, "type_changed", old_type, new_type))
    for column, new_type in delivered.items():
        if column not in baseline and not is_own_column(column):
            changes.append(ColumnChange(column, "added", None, new_type))
    return changes


def check_drift(
    project: Project,
    store: MetadataStore,
    source: str,
    delivered: dict[str, dict[str, Any]],
    flow_run_id: str | None = None,
) -> list[DriftFinding]:
    """Compare each table's delivered columns (table -> column -> type) with its baseline,
    record baselines and events, and publish a `schema_drift` notification per new event.

    A breaking change already recorded by an open event with the same changes is not
    recorded again (a source stays broken over many syncs until someone accepts)."""
    if not project.config.governance.drift_checks:
        return []
    findings: list[DriftFinding] = []
    with store.session() as session:
        for table, columns in delivered.items():
            kept = {name: kind for name, kind in columns.items() if not is_own_column(name)}
            if kept:
                finding = _check_table(session, source, table, kept, flow_run_id)
                if finding is not None:
                    findings.append(finding)
    for finding in findings:
        publish(
            project,
            NotificationEvent(
                kind="schema_drift",
                summary=finding.summary(),
                source=source,
                details={
                    "table": finding.table,
                    "breaking": finding.breaking,
                    "changes": [asdict(change) for change in finding.changes],
                },
            ),
            store=store,
        )
    return findings


def _check_table(
    session: Session,
    source: str,
    table: str,
    delivered: dict[str, Any],
    flow_run_id: str | None,
) -> DriftFinding | None:
    baseline = session.scalar(
        select(DriftBaseline).where(
            DriftBaseline.source == source, DriftBaseline.table_name == table
        )
    )
    if baseline is None:
        session.add(
            DriftBaseline(
                source=source, table_name=table, columns=delivered, current_columns=delivered
            )
        )
        return None
    baseline.current_columns = delivered
    changes = compare(baseline.columns, delivered)
    if not changes:
        return None
    breaking = any(change.breaking for change in changes)
    recorded = [asdict(change) for change in changes]
    now = utcnow()
    if breaking:
        if _latest_open(session, source, table, recorded):
            return None
        event = DriftEvent(source=source, table_name=table, detected_at=now, breaking=True,
                           changes=recorded, observed=delivered, flow_run_id=flow_run_id)
    else:
        # Additive: the baseline grows at once, so later loads compare against it.
        baseline.columns = {**baseline.columns, **{c.column: c.new_type for c in changes}}
        baseline.updated_at = now
        event = DriftEvent(source=source, table_name=table, detected_at=now, breaking=False,
                           changes=recorded, observed=delivered, flow_run_id=flow_run_id,
                           accepted_at=now, accepted_by=AUTOMATIC)
    session.add(event)
    session.flush()
    return DriftFinding(event.id, source, table, breaking, changes)


def _latest_open(
    session: Session, source: str, table: str, changes: list[dict[str, Any]]
) -> bool:
    """Whether the newest open breaking event of the table records exactly `changes`."""
    events = [event for event in open_breaking_events(session, source) if event.table_name == table]
    return bool(events) and events[0].changes == changes


def open_breaking_events(session: Session, source: str | None = None) -> list[DriftEvent]:
    """Breaking events nobody accepted yet, newest first (all sources when `source` is None)."""
    query = select(DriftEvent).where(
        DriftEvent.breaking.is_(True), DriftEvent.accepted_at.is_(None)
    )
    if source is not None:
        query = query.where(DriftEvent.source == source)
    return list(
        session.scalars(query.order_by(DriftEvent.detected_at.desc(), DriftEvent.id.desc()))
    )


def hold_back_reason(project: Project, store: MetadataStore, source: str) -> str | None:
    """Why the dbt build after a sync of `source` must wait, or None when it may run:
    unaccepted breaking drift while `governance.block_dbt_on_breaking_drift` is on."""
    if not project.config.governance.block_dbt_on_breaking_drift:
        return None
    with store.session() as session:
        events = open_breaking_events(session, source)
    if not events:
        return None
    tables = sorted({event.table_name for event in events})
    latest = "; ".join(c.describe() for c in event_changes(events[0]) if c.breaking)
    return (
        f"unaccepted breaking schema drift in {source} (tables {', '.join(tables)}; latest: "
        f"{latest}): accept it with `headwater governance accept {source}` or "
        f"POST /api/governance/drift/{source}/accept, then sync again"
    )


def held_back_sources(project: Project, sources: list[str]) -> dict[str, str]:
    """Source -> why its downstream dbt build must wait, for those of `sources` held back
    by unaccepted breaking drift (for builds started outside a sync, e.g. a pipeline's).
    Opens the metadata DB itself; when it cannot, holds nothing back and logs why."""
    try:
        store = MetadataStore.open(project)
    except Exception as exc:
        logger.error("cannot check schema drift before the dbt build: %s", exc)
        return {}
    try:
        reasons = {source: hold_back_reason(project, store, source) for source in sources}
    finally:
        store.close()
    return {source: reason for source, reason in reasons.items() if reason}


def accept_drift(
    store: MetadataStore, source: str, who: str, table: str | None = None
) -> Acceptance:
    """Make each table's last delivered schema its baseline (only `table` when given) and
    mark its open breaking events accepted by `who`, now."""
    now = utcnow()
    with store.session() as session:
        query = select(DriftBaseline).where(DriftBaseline.source == source)
        if table is not None:
            query = query.where(DriftBaseline.table_name == table)
        baselines = list(session.scalars(query))
        events = [
            event
            for event in open_breaking_events(session, source)
            if table is None or event.table_name == table
        ]
        open_tables = {event.table_name for event in events}
        accepted: list[str] = []
        for baseline in baselines:
            if baseline.table_name in open_tables or baseline.columns != baseline.current_columns:
                baseline.columns = dict(baseline.current_columns)
                baseline.updated_at = now
                accepted.append(baseline.table_name)
        for event in events:
            event.accepted_at = now
            event.accepted_by = who[:254]
    return Acceptance(source=source, tables=sorted(accepted), events=len(events))


def baseline_tables(session: Session, source: str) -> list[str]:
    """Tables of `source` with a recorded baseline."""
    return list(
        session.scalars(
            select(DriftBaseline.table_name)
            .where(DriftBaseline.source == source)
            .order_by(DriftBaseline.table_name)
        )
    )


def list_drift_events(
    session: Session,
    *,
    source: str | None = None,
    table: str | None = None,
    skip: int = 0,
    limit: int = 50,
) -> tuple[Sequence[DriftEvent], int]:
    """Drift events, newest first, filtered by source and table, and how many match."""
    query = select(DriftEvent)
    if source is not None:
        query = query.where(DriftEvent.source == source)
    if table is not None:
        query = query.where(DriftEvent.table_name == table)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(DriftEvent.detected_at.desc(), DriftEvent.id.desc())
        .offset(skip)
        .limit(limit)
    ).all()
    return rows, total


def event_changes(event: DriftEvent) -> list[ColumnChange]:
    """The stored changes of `event` as ColumnChange objects."""
    return [ColumnChange(**change) for change in event.changes]


def describe_event(event: DriftEvent) -> str:
    """One line for a table of events."""
    return "; ".join(change.describe() for change in event_changes(event))


def when(value: datetime | None) -> str:
    """A UTC time for people (`2026-11-22 10:15:00`), empty for None."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""
