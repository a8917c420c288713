"""Helpers for schedule tests: a registered (not served) schedules deployment, and finished
runs of a chosen duration in the session's real Prefect server."""

from __future__ import annotations

import os
import sqlite3
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from headwater.config import Project, load_project
from headwater.runs import prefect_request
from headwater.schedules.reload import find_schedule_deployment


def write_project(root: Path, body: str, name: str | None = None) -> Project:
    """project.yml in `root` (a unique project name unless `name`) and a tiny CSV."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "items.csv").write_text("sku,qty\na,1\nb,2\n")
    name = name or f"sch_{uuid.uuid4().hex[:8]}"
    (root / "project.yml").write_text(
        f"project: {{name: {name}}}\n" + textwrap.dedent(body).lstrip()
    )
    return load_project(root)


def register_schedules_deployment(project: Project) -> dict[str, Any]:
    """Register the project's schedules deployment as `headwater serve` does, without
    serving it; returns it as the server has it."""
    from prefect.types.entrypoint import EntrypointType

    from flows.deployments import schedules_deployment

    schedules_deployment(
        project, {"project_file": str(project.file)}, EntrypointType.FILE_PATH
    ).apply()
    return find_schedule_deployment(os.environ["PREFECT_API_URL"], project)


def server_schedules(api: str, deployment_id: str) -> dict[str, dict[str, Any]]:
    """The deployment's schedules on the server, by slug."""
    return {
        item["slug"]: item
        for item in prefect_request(api, f"/deployments/{deployment_id}/schedules")
    }


def prefect_db() -> Path:
    """The SQLite database of the session's Prefect server (started by `prefect_api`)."""
    database = Path(os.environ["PREFECT_HOME"]) / "prefect.db"
    if not database.exists():
        pytest.skip("the Prefect server is not the session's own (PREFECT_API_URL is set)")
    return database


def finished_run(api: str, flow: str, tags: list[str], seconds: float) -> str:
    """A flow run of `flow` with `tags` that completed after `seconds`.

    The API sets start and end times to the moment of each state change, so the start is
    moved back in the server's database: a real run of several minutes would not fit in
    the test budget."""
    flow_id = prefect_request(api, "/flows/", {"name": flow})["id"]
    run = prefect_request(
        api, "/flow_runs/", {"flow_id": flow_id, "tags": tags, "state": {"type": "RUNNING"}}
    )
    prefect_request(
        api,
        f"/flow_runs/{run['id']}/set_state",
        {"state": {"type": "COMPLETED"}, "force": True},
    )
    end = prefect_request(api, f"/flow_runs/{run['id']}")["end_time"]
    start = datetime.fromisoformat(end).astimezone(UTC) - timedelta(seconds=seconds)
    with sqlite3.connect(prefect_db(), timeout=30) as db:
        db.execute(
            "UPDATE flow_run SET start_time = ? WHERE id = ?",
            (start.replace(tzinfo=None).isoformat(sep=" "), run["id"]),
        )
    return str(run["id"])
