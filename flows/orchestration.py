"""What Headwater sets up on the Prefect server: the work pool and its deployments, the
warehouse writers limit, and the automation that marks runs of dead workers crashed.

All of it is idempotent: `headwater serve` and `headwater deploy` call `prepare_server`
on every start, and a changed project.yml (a new pool, another writers cap, schedules) is
applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

from prefect.automations import Automation
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.exceptions import ObjectNotFound
from prefect.workers.process import ProcessWorker

from flows.deployments import build_deployments
from flows.limits import ensure_writer_limit
from headwater.config import Project
from headwater.errors import TerminalError
from headwater.runs import project_tag
from headwater.schedules import ReloadReport, apply_schedules, schedule_deployment_name
from headwater.warehouse import Warehouse

_TERMINAL_EVENTS = {
    f"prefect.flow-run.{state}" for state in ("Completed", "Failed", "Cancelled", "Crashed")
}


@dataclass(frozen=True)
class PreparedServer:
    """What `prepare_server` set up."""

    writers_limit: str
    """Name of the warehouse writers concurrency limit."""
    crash_automation: str
    """Name of the automation marking silent runs crashed."""
    work_pool: str | None
    """The pool the deployments were registered on (None: `headwater serve` runs them)."""
    deployments: list[str]
    """Deployments registered on the pool (empty without a pool)."""
    schedules: ReloadReport | None = None
    """The schedules applied to the pool's schedules deployment (None without a pool:
    `serve_schedules` applies them for the runner)."""


def prepare_server(project: Project) -> PreparedServer:
    """Set up the project on the Prefect server: limits, automation and, with a work pool,
    the pool, its deployments and the schedules."""
    pool = project.config.prefect.work_pool
    Warehouse(project).ensure_created()  # before workers' first loads race to create it
    deployments = register_deployments(project, pool) if pool else []
    return PreparedServer(
        writers_limit=ensure_writer_limit(project),
        crash_automation=ensure_crash_automation(project),
        work_pool=pool,
        deployments=deployments,
        schedules=apply_schedules(project) if pool else None,
    )


def serve_schedules(project: Project, deployments: list[Any]) -> ReloadReport:
    """Before `prefect.serve(*deployments)`: register the schedules deployment among them
    and apply project.yml's schedules to it (the runner then serves it as it is)."""
    name = schedule_deployment_name(project)
    for deployment in deployments:
        if deployment.name == name:
            deployment.apply()
    return apply_schedules(project)


def ensure_work_pool(pool: str) -> None:
    """Create process work pool `pool` unless it exists; refuse a pool of another type."""
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=pool,
                    type=ProcessWorker.type,
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                    description="Headwater flow runs, executed by `headwater worker`",
                )
            )
            return
    if existing.type != ProcessWorker.type:
        raise TerminalError(
            f"work pool '{pool}' exists with type '{existing.type}'; Headwater runs flows "
            "in a process pool: name another pool in prefect.work_pool"
        )


def register_deployments(project: Project, pool: str) -> list[str]:
    """Register the project's deployments on `pool`; returns their names.

    They name their flows by module path (`flows.sync.sync_source`) and carry no project
    file: a worker imports the installed code and loads the project it was started in."""
    ensure_work_pool(pool)
    names = []
    for deployment in build_deployments(project, on_pool=True):
        deployment.apply(work_pool_name=pool)
        names.append(deployment.name)
    return names


def ensure_crash_automation(project: Project) -> str:
    """The automation that marks the project's runs Crashed when their heartbeats stop
    for `prefect.crash_after_seconds` (a worker or its machine died); returns its name.

    Crashed is terminal, so the run's deployment slot frees and the next trigger runs."""
    seconds = project.config.prefect.crash_after_seconds
    name = f"{project.config.project.name}: crash runs without heartbeat"
    trigger = EventTrigger(
        posture=Posture.Proactive,
        match={"prefect.resource.id": "prefect.flow-run.*"},
        match_related={"prefect.resource.id": f"prefect.tag.{project_tag(project)}"},
        after={"prefect.flow-run.heartbeat"},
        expect={"prefect.flow-run.heartbeat", *_TERMINAL_EVENTS},
        for_each={"prefect.resource.id"},
        threshold=1,
        within=timedelta(seconds=seconds),
    )
    action = ChangeFlowRunState(
        state=StateType.CRASHED,
        name="Crashed",
        message=f"no heartbeat for {seconds}s: the worker or its machine stopped",
    )
    try:
        automation = cast(Automation, Automation.read(name=name))  # the sync variant
    except ValueError:
        Automation(
            name=name,
            description="Headwater: frees the slots of runs whose process died",
            trigger=trigger,
            actions=[action],
        ).create()
        return name
    if automation.trigger != trigger or automation.actions != [action]:
        automation.trigger = trigger
        automation.actions = [action]
        automation.update()
    return name
