"""Prefect deployments built from project.yml: one per enabled source, dbt builds,
housekeeping, and the one that carries the schedules."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron, Interval
from prefect.types.entrypoint import EntrypointType

from flows.cdc import cdc_sync
from flows.consoles import run_console
from flows.dbt_build import dbt_build
from flows.housekeeping import HOUSEKEEPING_CRON, warehouse_housekeeping
from flows.monitoring import run_monitoring
from flows.schedules import run_schedule
from flows.sync import sync_source
from headwater.config import Project
from headwater.config.sources import PostgresCdcSource
from headwater.governance.monitoring import MONITORING_CRON, MONITORING_DEPLOYMENT
from headwater.runs import (
    CONSOLE_DEPLOYMENT,
    DBT_BUILD_DEPLOYMENT,
    cdc_deployment_name,
    project_tag,
    source_tag,
    sync_deployment_name,
)
from headwater.schedules import schedule_deployment_name


def build_deployments(project: Project, on_pool: bool = False) -> list[Any]:
    """One deployment per enabled source, one for dbt builds (triggered over the API),
    consoles, daily housekeeping and the schedules (`schedules_deployment`): for
    `prefect.serve`, or, `on_pool`, for a work pool's workers.

    Each source's deployment runs one sync at a time: Prefect queues a second run
    (AwaitingConcurrencySlot) until the first ends, so two syncs never race on one table.
    Served deployments pass this machine's project file; pool deployments pass none (a
    worker uses the checkout it runs in) and name their flows by module path."""
    tag = project_tag(project)
    project_file = {} if on_pool else {"project_file": str(project.file)}
    entrypoint = EntrypointType.MODULE_PATH if on_pool else EntrypointType.FILE_PATH
    deployments = [
        dbt_build.to_deployment(
            name=DBT_BUILD_DEPLOYMENT,
            parameters=project_file,
            tags=[tag],
            description="dbt build of a selection (the API's model runs)",
            entrypoint_type=entrypoint,
        ),
        run_console.to_deployment(
            name=CONSOLE_DEPLOYMENT,
            parameters=project_file,
            tags=[tag],
            description="Run a console (parameter `console`): the API's and schedules' runs",
            entrypoint_type=entrypoint,
        ),
        warehouse_housekeeping.to_deployment(
            name="housekeeping",
            parameters=project_file,
            tags=[tag],
            description="Expire warehouse snapshots past the retention",
            schedules=[Cron(HOUSEKEEPING_CRON, timezone="UTC")],
            entrypoint_type=entrypoint,
        ),
        run_monitoring.to_deployment(
            name=MONITORING_DEPLOYMENT,
            parameters=project_file,
            tags=[tag],
            description="Freshness, row-count changes and reconciliation counts",
            schedules=[Cron(MONITORING_CRON, timezone="UTC")],
            concurrency_limit=1,
            entrypoint_type=entrypoint,
        ),
        schedules_deployment(project, project_file, entrypoint),
    ]
    for name, config in project.config.sources.items():
        if not config.enabled:
            continue
        if isinstance(config, PostgresCdcSource):
            deployments.append(cdc_deployment(project, name, config, project_file, entrypoint))
            continue
        deployments.append(
            sync_source.to_deployment(
                name=sync_deployment_name(name),
                parameters={"source": name, **project_file},
                tags=[source_tag(name), tag],
                description=config.description or f"Sync source {name} into raw_{name}",
                concurrency_limit=1,
                entrypoint_type=entrypoint,
            )
        )
    return deployments


def cdc_deployment(
    project: Project,
    source: str,
    config: PostgresCdcSource,
    project_file: dict[str, str],
    entrypoint: EntrypointType,
) -> Any:
    """The CDC source's deployment, on an interval in both modes.

    Batch mode: each run applies what is waiting. Continuous mode: a run keeps going until
    cancelled, and the interval only restarts it if it ended (one run at a time; a
    scheduled run that finds one running is cancelled, not queued)."""
    continuous = config.mode == "continuous"
    return cdc_sync.to_deployment(
        name=cdc_deployment_name(source),
        parameters={"source": source, "continuous": continuous, **project_file},
        tags=[source_tag(source), project_tag(project)],
        description=config.description or f"Replicate {source} into raw_{source} (CDC)",
        schedules=[Interval(config.interval_seconds)],
        concurrency_limit=ConcurrencyLimitConfig(
            limit=1,
            collision_strategy=(
                ConcurrencyLimitStrategy.CANCEL_NEW if continuous
                else ConcurrencyLimitStrategy.ENQUEUE
            ),
        ),
        entrypoint_type=entrypoint,
    )


def schedules_deployment(
    project: Project, project_file: dict[str, str], entrypoint: EntrypointType
) -> Any:
    """The deployment of `run_schedule` that carries every schedule of project.yml.

    Built without schedules: re-applying it keeps the ones on the server (they have slugs),
    and `headwater.schedules.apply_schedules` then applies the difference. No concurrency
    limit: schedules run side by side, and each child deployment keeps its own."""
    return run_schedule.to_deployment(
        name=schedule_deployment_name(project),
        parameters=project_file,
        tags=[project_tag(project)],
        description="Runs the schedules of project.yml: one Prefect schedule each, named "
        "after it (headwater schedules list)",
        entrypoint_type=entrypoint,
    )
