"""Prefect deployments built from project.yml: one per enabled source."""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron, Schedule

from flows.housekeeping import HOUSEKEEPING_CRON, warehouse_housekeeping
from flows.sync import sync_source
from headwater.config import Project


def sync_deployment_name(source: str) -> str:
    """Name of the deployment that syncs `source` (flow `sync_source`)."""
    return f"sync-{source}"


def source_schedules(project: Project, source: str) -> list[Schedule]:
    """Cron schedules from `schedules:` that name `source`."""
    return [
        Cron(schedule.cron, timezone=schedule.timezone, active=schedule.enabled)
        for schedule in project.config.schedules.values()
        if source in schedule.sources
    ]


def build_deployments(project: Project) -> list[Any]:
    """One runner deployment per enabled source plus daily housekeeping, ready for
    `prefect.serve`."""
    deployments = [
        warehouse_housekeeping.to_deployment(
            name="housekeeping",
            parameters={"project_file": str(project.file)},
            tags=[f"project:{project.config.project.name}"],
            description="Expire warehouse snapshots past the retention",
            schedules=[Cron(HOUSEKEEPING_CRON, timezone="UTC")],
        )
    ]
    for name, config in project.config.sources.items():
        if not config.enabled:
            continue
        deployments.append(
            sync_source.to_deployment(
                name=sync_deployment_name(name),
                parameters={"source": name, "project_file": str(project.file)},
                tags=[f"source:{name}", f"project:{project.config.project.name}"],
                description=config.description or f"Sync source {name} into raw_{name}",
                schedules=source_schedules(project, name),
            )
        )
    return deployments
