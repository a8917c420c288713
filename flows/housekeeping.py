"""The `warehouse_housekeeping` flow: snapshot expiry on a schedule, visible in Prefect."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, get_run_logger

from flows.limits import writer_slot
from flows.run_tags import tag_this_run
from headwater.config import load_project
from headwater.runs import project_tag
from headwater.warehouse import Warehouse
from headwater.warehouse.maintenance import expire_snapshots

HOUSEKEEPING_CRON = "30 3 * * *"
"""When served deployments run housekeeping: daily, outside the usual sync hours."""


@flow(name="warehouse_housekeeping")
def warehouse_housekeeping(project_file: str | None = None) -> dict[str, Any]:
    """Expire snapshots older than `warehouse.snapshot_retention_days`."""
    project = load_project(project_file)
    tag_this_run(project_tag(project))
    with writer_slot(project):
        result = expire_snapshots(Warehouse(project))
    get_run_logger().info(
        "expired %d snapshots, deleted %d files, %d snapshots kept",
        result.expired_snapshots,
        result.deleted_files,
        result.remaining_snapshots,
    )
    return asdict(result)
