"""`headwater deploy` and `headwater worker`: the project's flows on a Prefect work pool."""

from __future__ import annotations

import os
import socket
import sys
from typing import Annotated

import typer

from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.config import Project, load_project
from headwater.config.project import PROJECT_ENV_VAR
from headwater.prefect_server import ensure_server

WORKER_POLL_SECONDS = "2"
"""How often a worker asks for runs; Prefect's default (10 s) makes triggered runs wait."""

HEARTBEAT_ENV = {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}
"""Flow runs tell Prefect they are alive every 30 s (Prefect's minimum), so a run whose
worker died is marked crashed after `prefect.crash_after_seconds`."""


@friendly_errors
def deploy(project: ProjectOption = None) -> None:
    """Register the project on its Prefect server: the deployments on `prefect.work_pool`,
    the warehouse writers limit and the crash automation. Run it after editing project.yml
    (`headwater serve` does it on start)."""
    loaded = load_project(project)
    if not loaded.config.prefect.work_pool:
        raise fail(
            "project.yml names no work pool (prefect.work_pool); without one, `headwater "
            "serve` runs the deployments itself and nothing needs deploying"
        )
    ensure_server(loaded)
    register_on_server(loaded)


def register_on_server(project: Project) -> bool:
    """Set the project up on its Prefect server (`prepare_server`) and say what was
    registered; whether a work pool runs the flows."""
    from flows.orchestration import prepare_server  # late: Prefect reads settings on import

    prepared = prepare_server(project)
    if prepared.work_pool:
        console.print(
            f"registered {len(prepared.deployments)} deployments on work pool "
            f"'{prepared.work_pool}': {', '.join(prepared.deployments)}\n"
            "start workers with `headwater worker` on each machine with this project",
            highlight=False,
        )
    if prepared.schedules is not None:
        from headwater.cli.schedules import print_report

        print_report(prepared.schedules)
    return prepared.work_pool is not None


@friendly_errors
def worker(
    project: ProjectOption = None,
    pool: Annotated[
        str | None, typer.Option(help="Work pool (default: prefect.work_pool).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Worker name (default: <host>-<pid>).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Flow runs at once (default: the machine's core count)."),
    ] = None,
) -> None:
    """Run a Prefect process worker for the project's work pool on this machine, until
    interrupted. Its flow runs use this checkout of the project and its installed code."""
    loaded = load_project(project)
    pool = pool or loaded.config.prefect.work_pool
    if not pool:
        raise fail("no work pool: set prefect.work_pool in project.yml or pass --pool")
    ensure_server(loaded)
    from flows.orchestration import ensure_work_pool

    ensure_work_pool(pool)
    command = [
        sys.executable, "-m", "prefect", "worker", "start",
        "--pool", pool,
        "--type", "process",
        "--name", name or f"{socket.gethostname()}-{os.getpid()}",
        "--limit", str(limit or os.cpu_count() or 1),
    ]  # fmt: skip
    environment = {
        **os.environ,
        **HEARTBEAT_ENV,
        PROJECT_ENV_VAR: str(loaded.file),
        "PREFECT_WORKER_QUERY_SECONDS": WORKER_POLL_SECONDS,
    }
    console.print(f"worker for pool '{pool}', project {loaded.file}", highlight=False)
    sys.stdout.flush()
    # The worker replaces this process: a signal to `headwater worker` reaches it directly.
    os.execve(sys.executable, command, environment)
