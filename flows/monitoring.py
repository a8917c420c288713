"""The `run_monitoring` flow: freshness, row-count changes and reconciliation counts.

Served as the deployment `monitoring` (hourly) and started by `POST /api/monitoring/run`
and `headwater monitoring --run`. The source side of reconciliation needs the connectors,
which the API process may not import: that is why the checks run as a flow.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.events import emit_event
from prefect.runtime import flow_run

from connectors import connector_for
from flows.run_tags import tag_this_run
from headwater.config import Project, load_project
from headwater.config.sources import PostgresCdcSource
from headwater.governance.monitoring import MONITORING_FLOW, SourceCount, run_checks
from headwater.prefect_server import api_url
from headwater.runs import project_tag
from headwater.store import MetadataStore


@flow(name=MONITORING_FLOW)
def run_monitoring(project_file: str | None = None) -> dict[str, Any]:
    """Run the monitoring checks, store the results, and return them."""
    logger = get_run_logger()
    project = load_project(project_file)
    tag_this_run(project_tag(project))
    counts = source_counts(project)
    store = MetadataStore.open(project)
    try:
        run_id = flow_run.get_id()
        report = run_checks(project, store, api_url(project), counts,
                            str(run_id) if run_id else None)
    finally:
        store.close()
    for result in report.results:
        if result.status == "warning":
            where = f"{result.source}.{result.table}" if result.table else result.source
            logger.warning("%s %s: %s", result.check, where, result.message)
    logger.info("monitoring: %d checks, %d warnings", len(report.results), report.warnings)
    create_table_artifact(
        key="monitoring",
        table=[
            {"check": r.check, "source": r.source, "table": r.table or "", "status": r.status,
             "message": r.message}
            for r in report.results
        ],
        description=f"Monitoring: {len(report.results)} checks, {report.warnings} warnings",
    )
    emit_event(
        event="headwater.monitoring.completed",
        resource={
            "prefect.resource.id": f"headwater.monitoring.{project.config.project.name}",
            "prefect.resource.name": "monitoring",
            "headwater.project": project.config.project.name,
        },
        payload={"checks": len(report.results), "warnings": report.warnings},
    )
    return {"run_id": report.id, "results": [asdict(result) for result in report.results]}


def source_counts(project: Project) -> dict[tuple[str, str], SourceCount]:
    """(source, table) -> rows counted at the source, for each enabled batch source's
    tables; a table the connector cannot count says why instead."""
    counts: dict[tuple[str, str], SourceCount] = {}
    for name, config in project.config.sources.items():
        if not config.enabled or isinstance(config, PostgresCdcSource):
            continue  # CDC: `headwater cdc status` compares per-table counts itself
        try:
            connector = connector_for(project, name)
            specs = connector.tables()
        except Exception as exc:  # one source's problem never stops the other checks
            counts[(name, "*")] = SourceCount(None, f"cannot list the tables: {exc}")
            continue
        for spec in specs:
            try:
                rows = connector.source_row_count(spec)
            except Exception as exc:
                counts[(name, spec.name)] = SourceCount(None, f"cannot count at the source: {exc}")
                continue
            if rows is None:
                counts[(name, spec.name)] = SourceCount(
                    None, f"not available: a {config.type} source cannot be counted"
                )
                continue
            counts[(name, spec.name)] = SourceCount(rows, _caveat(spec.write_disposition,
                                                                  spec.cursor))
    return counts


def _caveat(write_disposition: str, cursor: str | None) -> str | None:
    """What limits a count comparison for a table, if anything."""
    if cursor:
        return (f"incremental on {cursor}: rows changed at the source since the last sync "
                "are not in the warehouse yet")
    if write_disposition == "append":
        return "append: the warehouse keeps every load's rows, the source only today's"
    return None
