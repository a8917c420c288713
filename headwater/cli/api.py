"""`headwater api`: the REST API alone (`headwater serve` starts it beside the runner)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from headwater.cli.common import ProjectOption, console, friendly_errors
from headwater.config import Project, load_project
from headwater.prefect_server import api_url

HostOption = Annotated[
    str | None, typer.Option("--host", help="Interface to listen on (default: api.host).")
]
PortOption = Annotated[
    int | None, typer.Option("--port", help="Port to listen on (default: api.port, 8800).")
]


def api_command(project: Project, host: str | None, port: int | None) -> list[str]:
    """The command line that runs the API for `project` in its own process."""
    command = [sys.executable, "-m", "headwater", "api", "--project", str(project.file)]
    if host:
        command += ["--host", host]
    if port:
        command += ["--port", str(port)]
    return command


@friendly_errors
def api(project: ProjectOption = None, host: HostOption = None, port: PortOption = None) -> None:
    """Run the REST API (docs at /api/docs) until interrupted; runs are read from and
    started through the project's Prefect server."""
    import uvicorn

    from api.main import create_app

    loaded = load_project(project)
    settings = loaded.config.api
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(
        f"Headwater API on http://{bind_host}:{bind_port} (docs: /api/docs), "
        f"Prefect at {api_url(loaded)}",
        highlight=False,
    )
    uvicorn.run(
        create_app(loaded),
        host=bind_host,
        port=bind_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
