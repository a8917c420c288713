"""What runs after a sync loaded, before the dbt build: schema drift, row-count history and
the PII scan; and whether the dbt build must wait for someone to accept breaking drift.

Governance never fails a sync that loaded: each step's error is logged in the run and
emitted as a `headwater.governance.failed` event, and the next steps still run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from prefect import get_run_logger, task
from prefect.cache_policies import NONE
from prefect.events import emit_event
from prefect.runtime import flow_run

from flows.run_tags import source_resource
from headwater.config import Project, load_project
from headwater.governance.drift import DriftFinding, check_drift, hold_back_reason
from headwater.governance.monitoring import record_row_counts
from headwater.governance.pii import scan_after_sync
from headwater.store import MetadataStore

T = TypeVar("T")


@task(task_run_name="governance-{source}", cache_policy=NONE)
def govern_sync(project_file: str, source: str, tables: list[dict[str, Any]]) -> str | None:
    """Check drift of what `tables` (the sync summary's entries) delivered, record their row
    counts, scan them for PII; return why the dbt build must be held back, or None."""
    logger = get_run_logger()
    try:
        project = load_project(project_file)
        store = MetadataStore.open(project)
    except Exception as exc:
        logger.error("governance after the sync of %s skipped: %s", source, exc)
        return None
    run_id = _flow_run_id()
    try:
        delivered = {str(entry["table"]): dict(entry.get("columns") or {}) for entry in tables}
        no_findings: list[DriftFinding] = []
        findings = _step(project, source, "drift check", no_findings, lambda: check_drift(
            project, store, source, delivered, run_id
        ))
        for finding in findings:
            _announce(project, finding)
        loaded = {str(entry["table"]): int(entry["rows"]) for entry in tables}
        _step(project, source, "row counts", None,
              lambda: record_row_counts(project, store, source, loaded, run_id))
        _step(project, source, "PII scan", None,
              lambda: scan_after_sync(project, source, tables, store))
        reason = _step(project, source, "drift hold-back check", None,
                       lambda: hold_back_reason(project, store, source))
    finally:
        store.close()
    if reason:
        logger.warning("dbt build after the sync of %s held back: %s", source, reason)
    return reason


def _step(project: Project, source: str, what: str, fallback: T, step: Callable[[], T]) -> T:
    """Run one governance step; on an error log it, emit it, and return `fallback`."""
    try:
        return step()
    except Exception as exc:
        get_run_logger().exception("governance after the sync of %s: %s failed", source, what)
        emit_event(
            event="headwater.governance.failed",
            resource=source_resource(project, source),
            payload={"source": source, "step": what, "error": str(exc)[:1000]},
        )
        return fallback


def _announce(project: Project, finding: DriftFinding) -> None:
    """Log a drift finding and emit it as the Prefect event `headwater.governance.drift`."""
    log = get_run_logger().warning if finding.breaking else get_run_logger().info
    log("%s", finding.summary())
    emit_event(
        event="headwater.governance.drift",
        resource=source_resource(project, finding.source),
        payload={
            "source": finding.source,
            "table": finding.table,
            "breaking": finding.breaking,
            "changes": [asdict(change) for change in finding.changes],
            "event_id": finding.event_id,
        },
    )


def _flow_run_id() -> str | None:
    """The sync's flow run id (None outside a run)."""
    run_id = flow_run.get_id()
    return str(run_id) if run_id else None
