"""Prefect deployments built from project.yml: one per enabled source."""

from __future__ import annotations

from typing import Any

from prefect.schedules import Cron, Schedule

from flows.dbt_build import dbt_build
from flows.housekeeping import HOUSEKEEPING_CRON, warehouse_housekeeping
from flows.sync import sync_source
from headwater.config import Project
from headwater.runs import DBT_BUILD_DEPLOYMENT, project_tag, source_tag, sync_deployment_name


def source_schedules(project: Project, source: str) -> list[Schedule]:
    """Cron schedules from `schedules:` that name `source`."""
    return [
        Cron(schedule.cron, timezone=schedule.timezone, active=schedule.enabled)
        for schedule in project.config.schedules.values()
        if source in schedule.sources
    ]


def build_deployments(project: Project) -> list[Any]:
    """One runner deployment per enabled source, one for dbt builds (triggered over the API)
    and daily housekeeping, ready for `prefect.serve`.

    Each source's deployment runs one sync at a time: Prefect queues a second run
    (AwaitingConcurrencySlot) until the first ends, so two syncs never race on one table."""
    tag = project_tag(project)
    deployments = [
        dbt_build.to_deployment(
            name=DBT_BUILD_DEPLOYMENT,
            parameters={"project_file": str(project.file)},
            tags=[tag],
            description="dbt build of a selection (the API's model runs)",
        ),
        warehouse_housekeeping.to_deployment(
            name="housekeeping",
            parameters={"project_file": str(project.file)},
            tags=[tag],
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
                tags=[source_tag(name), tag],
                description=config.description or f"Sync source {name} into raw_{name}",
                schedules=source_schedules(project, name),
                concurrency_limit=1,
            )
        )
    return deployments
