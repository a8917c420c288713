"""`headwater serve`: deployments built from project.yml, runs triggered over Prefect's API."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from headwater.runs import prefect_request, runs_with_tag
from headwater.warehouse import Warehouse
from tests.conftest import MakeProject

pytestmark = pytest.mark.slow

PROJECT = """
project:
  name: served
sources:
  shop:
    type: files
    tables:
      items: {path: items.csv}
  disabled_one:
    type: files
    enabled: false
    tables:
      items: {path: items.csv}
schedules:
  hourly: {sources: [shop], cron: "0 * * * *", timezone: Europe/Lisbon}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def _served(prefect_api: str, project_file: str) -> dict[str, Any]:
    """Deployments registered for project_file, by name."""
    return {
        d["name"]: d
        for d in prefect_request(prefect_api, "/deployments/filter", {"limit": 200})
        if d["parameters"].get("project_file") == project_file
    }


def wait_for(check: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_registers_deployments_and_runs_triggered_flows(
    make_project: MakeProject, prefect_api: str, tmp_path: Path
) -> None:
    project = make_project(PROJECT)
    (project.root / "items.csv").write_text("sku,qty\na,1\nb,2\n")
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - closed in finally
    api_port = free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "headwater",
            "serve",
            "--project",
            str(project.file),
            "--api-port",
            str(api_port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=os.environ.copy(),
        start_new_session=True,  # its own process group: nothing it started outlives the test
    )
    try:
        wanted = {
            "sync-shop", "housekeeping", "dbt-build", "run-console", "monitoring",
            "schedules-served",
        }
        deployments = wait_for(
            lambda: (
                found if wanted <= set(found := _served(prefect_api, str(project.file))) else None
            ),
            90,
            "deployments",
        )
        # Disabled source: none; dbt-build is served for the API's model runs.
        assert set(deployments) == {
            "sync-shop", "housekeeping", "dbt-build", "run-console", "monitoring",
            "schedules-served",
        }
        shop = deployments["sync-shop"]
        assert "source:shop" in shop["tags"]
        assert shop["schedules"] == []  # schedules live on the schedules deployment
        # serve applies them before serving: the deployment has them once it is listed.
        [schedule] = prefect_request(
            prefect_api, f"/deployments/{deployments['schedules-served']['id']}/schedules"
        )
        assert schedule["slug"] == "hourly"
        assert schedule["parameters"] == {"schedule": "hourly"}
        assert schedule["schedule"]["cron"] == "0 * * * *"
        assert schedule["schedule"]["timezone"] == "Europe/Lisbon"

        run = prefect_request(prefect_api, f"/deployments/{shop['id']}/create_flow_run", {})
        finished = wait_for(
            lambda: (
                (state := prefect_request(prefect_api, f"/flow_runs/{run['id']}")["state"]["type"])
                in ("COMPLETED", "FAILED", "CRASHED")
                and state
            ),
            180,
            "the triggered run",
        )
        assert finished == "COMPLETED", (tmp_path / "serve.log").read_text()[-3000:]
        assert any(r.id == run["id"] for r in runs_with_tag(prefect_api, "source:shop"))
        with Warehouse(project).reader() as conn:
            assert conn.execute("SELECT count(*) FROM raw_shop.items").fetchone() == (2,)
        # The REST API runs beside the runner, on the port given.
        health = wait_for(lambda: _get(f"http://127.0.0.1:{api_port}/api/health"), 60, "the API")
        assert health["status"] == "ok"
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            serve.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(serve.pid, signal.SIGKILL)  # an API child left by a killed serve
        log.close()
