"""`headwater serve`: the local Prefect server, the API, and the project's deployments:
served here, or registered on the work pool that `headwater worker`s run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Annotated

import typer

from headwater.cli.api import api_command
from headwater.cli.common import ProjectOption, console, friendly_errors
from headwater.cli.schedules import print_report
from headwater.cli.worker import HEARTBEAT_ENV, register_on_server
from headwater.config import load_project
from headwater.prefect_server import (
    configure_environment,
    is_healthy,
    is_local_server,
    server_command,
    server_environment,
    ui_url,
    wait_until_healthy,
)
from headwater.processes import stop_tree

# Runs the API creates wait for the runner's next poll; Prefect's default is every 10 s.
RUNNER_POLL_SECONDS = "2"


@friendly_errors
def serve(
    project: ProjectOption = None,
    api_host: Annotated[str | None, typer.Option(help="API interface (default: api.host).")] = None,
    api_port: Annotated[int | None, typer.Option(help="API port (default: api.port).")] = None,
    no_api: Annotated[bool, typer.Option("--no-api", help="Serve flows only.")] = False,
) -> None:
    """Start the Prefect server (unless PREFECT_API_URL points to one) and the REST API,
    and serve the deployments built from project.yml, with its schedules applied, until
    interrupted; with `prefect.work_pool` set, register them on that pool for
    `headwater worker`s instead."""
    loaded = load_project(project)
    local = is_local_server(loaded)  # before configure_environment sets PREFECT_API_URL
    url = configure_environment(loaded)
    server: subprocess.Popen[bytes] | None = None
    if local and not is_healthy(url):
        console.print(f"starting the Prefect server; UI at {ui_url(loaded)}", highlight=False)
        server = subprocess.Popen(server_command(loaded), env=server_environment(loaded))
        wait_until_healthy(url, 90)
    else:
        console.print(f"using the Prefect server at {url}", highlight=False)
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", RUNNER_POLL_SECONDS)
    for key, value in HEARTBEAT_ENV.items():
        os.environ.setdefault(key, value)
    api_process: subprocess.Popen[bytes] | None = None
    try:  # whatever fails from here, the processes started are stopped
        if not no_api:
            # Its own process: a busy API never slows the runner, and one never stops the other.
            api_process = subprocess.Popen(api_command(loaded, api_host, api_port))
        if register_on_server(loaded):
            # The workers run the flows; this process keeps server and API up until stopped
            # (SIGTERM too: exiting through `finally` stops them).
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            while True:
                time.sleep(3600)
        from prefect import serve as prefect_serve

        from flows.deployments import build_deployments
        from flows.orchestration import serve_schedules

        deployments = build_deployments(loaded)
        print_report(serve_schedules(loaded, deployments))
        console.print(
            f"serving {len(deployments)} deployments: "
            + ", ".join(deployment.name for deployment in deployments),
            highlight=False,
        )
        prefect_serve(*deployments, print_starting_message=False)
    finally:  # with their children: the server's and the API's workers
        stop_tree([process for process in (api_process, server) if process], grace=30)
