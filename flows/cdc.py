"""The `cdc_sync` Prefect flow: snapshot what needs it, then apply change batches.

Batch mode drains what is waiting and ends (a deployment runs it on an interval);
continuous mode keeps polling until the run is cancelled. Both are idempotent: a run killed
at any point is repaired by the next one.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event

from connectors.postgres_cdc.pgoutput import format_lsn
from connectors.postgres_cdc.replicator import BatchResult, Replicator
from connectors.postgres_cdc.status import CdcStatus, cdc_status
from flows.limits import writer_slot
from flows.run_tags import source_resource, source_run_name, tag_this_run
from headwater.config import Project, load_project
from headwater.errors import TerminalError, TransientError
from headwater.notify import NotificationEvent, publish
from headwater.runs import project_tag, source_tag

STATUS_EVERY_SECONDS = 10.0
"""Continuous mode: how often the slot's lag is checked (and warned about)."""
RETRY_PAUSE_SECONDS = (1.0, 5.0, 15.0, 30.0)
"""Continuous mode: pauses after consecutive transient failures (the last one repeats)."""


@flow(name="cdc_sync", flow_run_name=source_run_name("cdc"), validate_parameters=True)
def cdc_sync(
    source: str,
    continuous: bool = False,
    resync: list[str] | None = None,
    max_batches: int | None = None,
    project_file: str | None = None,
) -> dict[str, Any]:
    """Replicate `source`: snapshot new tables (and `resync` ones), then apply changes until
    caught up, or until cancelled when `continuous`; `max_batches` bounds the batches."""
    project = load_project(project_file)
    tag_this_run(source_tag(source), project_tag(project))
    logger = get_run_logger()
    replicator = Replicator(project, source)
    if not replicator.config.enabled:
        raise TerminalError(f"source '{source}' is disabled (enabled: false in project.yml)")
    with writer_slot(project):
        snapshots = replicator.prepare(resync)
    for snapshot in snapshots:
        logger.info("%s.%s: snapshot of %s rows", source, snapshot.table, f"{snapshot.rows:,}")
    _emit(project, source, "snapshot", {"tables": {s.table: s.rows for s in snapshots}})
    totals: dict[str, int] = {}
    batches = failures = 0
    checked = time.monotonic()
    while max_batches is None or batches < max_batches:
        try:
            with writer_slot(project):
                result = replicator.run_batch()
            failures = 0
        except TransientError as exc:
            if not continuous:
                raise
            pause = RETRY_PAUSE_SECONDS[min(failures, len(RETRY_PAUSE_SECONDS) - 1)]
            failures += 1
            logger.warning("%s; retrying in %.0fs", exc, pause)
            time.sleep(pause)
            continue
        batches += 1
        _record_batch(project, source, result, totals)
        if continuous and time.monotonic() - checked > STATUS_EVERY_SECONDS:
            _warn_on_lag(project, cdc_status(replicator))
            checked = time.monotonic()
        if result.drained:
            if not continuous:
                break
            time.sleep(replicator.config.poll_seconds)
    status = cdc_status(replicator)
    _warn_on_lag(project, status)
    _write_artifact(status)
    return {
        "source": source,
        "snapshots": [asdict(s) for s in snapshots],
        "batches": batches,
        "changes": totals,
        "status": status.to_dict(),
    }


def _record_batch(
    project: Project, source: str, result: BatchResult, totals: dict[str, int]
) -> None:
    """Log, count and emit one batch (batches that applied nothing stay quiet)."""
    for op, count in result.counts.items():
        totals[op] = totals.get(op, 0) + count
    if result.transactions == 0 and not result.drift:
        return
    get_run_logger().info(
        "%s: %s transactions, changes %s, up to LSN %s",
        source,
        result.transactions,
        result.counts or "none",
        format_lsn(result.end_lsn),
    )
    payload = {
        "transactions": result.transactions,
        "changes": result.counts,
        "tables": result.tables,
        "end_lsn": result.end_lsn,
        "drained": result.drained,
        "unresolved": result.unresolved,
    }
    _emit(project, source, "batch", payload)
    for table, detail in result.drift.items():
        get_run_logger().warning("%s.%s: schema drift, table stopped: %s", source, table, detail)
        _emit(project, source, "drift", {"table": table, "detail": detail})


def _warn_on_lag(project: Project, status: CdcStatus) -> None:
    """A warning event when the slot retains more WAL than the threshold: WAL growth on
    the source is the classic CDC outage, so automations and notifications can react."""
    if not status.lag_warning:
        return
    get_run_logger().warning(
        "%s: replication slot %s lags %s bytes", status.source, status.slot, status.lag_bytes
    )
    _emit(project, status.source, "lag", {"slot": status.slot, "lag_bytes": status.lag_bytes})
    # One notification per slot and hour: a continuous run checks every few seconds, and
    # a lagging slot stays lagging for a while.
    hour = datetime.now(UTC).strftime("%Y%m%dT%H")
    publish(
        project,
        NotificationEvent(
            kind="cdc_lag",
            summary=f"CDC source {status.source}: replication slot {status.slot} retains "
            f"{status.lag_bytes} bytes of WAL (above lag_warning_bytes)",
            source=status.source,
            details={"slot": status.slot, "lag_bytes": status.lag_bytes},
            id=f"cdc_lag_{project.config.project.name}_{status.source}_{status.slot}_{hour}",
        ),
    )


def _emit(project: Project, source: str, kind: str, payload: dict[str, Any]) -> None:
    emit_event(
        event=f"headwater.cdc.{kind}",
        resource=source_resource(project, source),
        payload={"source": source, **payload},
    )


def _write_artifact(status: CdcStatus) -> None:
    """The run's table artifact: one row per table with counts and position."""
    rows = [
        {
            "table": t.table,
            "status": t.status,
            "rows": t.rows,
            "inserts": t.inserts,
            "updates": t.updates,
            "deletes": t.deletes,
            "applied_lsn": t.applied_lsn,
            "detail": t.detail,
        }
        for t in status.tables
    ]
    create_table_artifact(
        key=f"cdc-{status.source.replace('_', '-')}",
        table=rows,
        description=(
            f"CDC of source {status.source}: slot {status.slot} at {status.confirmed_lsn}, "
            f"lag {status.lag_bytes} bytes"
        ),
    )
