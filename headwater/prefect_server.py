"""Find or start the Prefect server a project's flows report to.

Prefect's ephemeral mode starts and stops a server inside every command (about 8 s up and
15 s down on a 2-core machine). Headwater instead starts one local server per project in
the background on first use and reuses it, so each command only pays its own work.
This module never imports Prefect: it must be set up through the environment *before*
Prefect is imported.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from headwater.config.project import Project
from headwater.errors import TransientError

QUIET_PREFECT_ENV: dict[str, str] = {
    # No network at run time: no telemetry, no update checks.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
}
"""Settings every Prefect process of Headwater runs with."""


def api_url(project: Project) -> str:
    """PREFECT_API_URL, else `prefect.api_url` from project.yml, else the local server's."""
    explicit = os.environ.get("PREFECT_API_URL") or project.config.prefect.api_url
    if explicit:
        return explicit.rstrip("/")
    settings = project.config.prefect
    return f"http://{settings.server_host}:{settings.server_port}/api"


def ui_url(project: Project) -> str:
    """Where people open the Prefect UI."""
    return api_url(project).removesuffix("/api")


def is_local_server(project: Project) -> bool:
    """Whether Headwater manages the server (no external URL configured)."""
    return not (os.environ.get("PREFECT_API_URL") or project.config.prefect.api_url)


def prefect_home(project: Project) -> Path:
    """PREFECT_HOME of the local server: its SQLite database and logs."""
    return project.path(project.config.prefect.home)


def is_healthy(url: str, timeout: float = 1.0) -> bool:
    """Whether a Prefect API answers its health check at `url`."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def configure_environment(project: Project) -> str:
    """Point this process's (not yet imported) Prefect at the project's server."""
    url = api_url(project)
    os.environ["PREFECT_API_URL"] = url
    os.environ.setdefault("PREFECT_HOME", str(prefect_home(project)))
    # Prefect creates its home without parents and warns on stderr when it cannot.
    with contextlib.suppress(OSError):
        Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    for key, value in QUIET_PREFECT_ENV.items():
        os.environ.setdefault(key, value)
    return url


def server_command(project: Project) -> list[str]:
    """The command that runs the project's local Prefect server in the foreground."""
    settings = project.config.prefect
    return [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        settings.server_host,
        "--port",
        str(settings.server_port),
    ]


def server_environment(project: Project) -> dict[str, str]:
    """Environment of the local server process (creating its PREFECT_HOME: the server
    cannot open its database in a missing directory)."""
    home = prefect_home(project)
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **QUIET_PREFECT_ENV}
    env["PREFECT_HOME"] = str(home)
    env.pop("PREFECT_API_URL", None)
    # The UI calls the API on the same host and port it was served from.
    env["PREFECT_UI_API_URL"] = api_url(project)
    return env


def ensure_server(project: Project, wait_seconds: float = 90) -> str:
    """Return the API URL, starting the local server in the background if it is not up.

    A started server keeps running after this process exits, so the next command reuses
    it; `headwater serve` runs it in the foreground instead.
    """
    local = is_local_server(project)  # before configure_environment sets PREFECT_API_URL
    url = configure_environment(project)
    if is_healthy(url):
        return url
    if not local:
        raise TransientError(
            f"the Prefect API at {url} does not answer; start that server or unset "
            "PREFECT_API_URL / prefect.api_url to use a local one"
        )
    environment = server_environment(project)
    log_file = prefect_home(project) / "server.log"
    with open(log_file, "ab") as log:
        subprocess.Popen(
            server_command(project),
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives this command, like a daemon
        )
    wait_until_healthy(url, wait_seconds, log_file)
    return url


def wait_until_healthy(url: str, wait_seconds: float, log_file: Path | None = None) -> None:
    """Poll the health check until it answers or `wait_seconds` pass."""
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if is_healthy(url):
            return
        time.sleep(0.25)
    tail = ""
    if log_file is not None and log_file.exists():
        tail = "\n" + "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
    raise TransientError(
        f"the local Prefect server at {url} did not become healthy within "
        f"{wait_seconds:.0f}s (log: {log_file}){tail}"
    )
