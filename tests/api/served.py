"""A project whose deployments a real `headwater serve --no-api` runner serves."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from headwater.config import Project, load_project
from headwater.config.models import StoreConfig
from headwater.runs import prefect_request
from tests.dbt.conftest import copy_dbt_project

SERVED_YML = """
project: {name: api_served}
sources:
  orders:
    type: files
    write_disposition: merge
    tables:
      orders: {path: data/orders.csv, primary_key: [order_id]}
  customers:
    type: files
    write_disposition: replace
    tables:
      customers: {path: data/customers.csv}
"""

ORDERS_CSV = """order_id,customer_id,ordered_at,status,amount,currency
1,1,2025-01-01T10:00:00Z,placed,10.0,EUR
2,2,2025-01-02T10:00:00Z,placed,20.0,EUR
3,1,2025-01-03T10:00:00Z,returned,7.5,EUR
"""
CUSTOMERS_CSV = """customer_id,name,email,country,signed_up_on
1,Ana,ana@example.com,PT,2024-01-01
2,Bo,bo@example.com,SE,2024-02-01
"""


def write_served_project(root: Path) -> Project:
    """project.yml, its CSVs and the demo dbt project (without the CRM models) in `root`."""
    (root / "data").mkdir(parents=True)
    (root / "data" / "orders.csv").write_text(ORDERS_CSV)
    (root / "data" / "customers.csv").write_text(CUSTOMERS_CSV)
    (root / "project.yml").write_text(textwrap.dedent(SERVED_YML).lstrip())
    copy_dbt_project(root)
    return load_project(root)


def served_deployments(api: str, project: Project) -> dict[str, dict[str, Any]]:
    """Deployments registered for `project` by name."""
    return {
        deployment["name"]: deployment
        for deployment in prefect_request(api, "/deployments/filter", {"limit": 200})
        if deployment["parameters"].get("project_file") == str(project.file)
    }


def start_serve(project: Project, api: str, log: Path) -> subprocess.Popen[bytes]:
    """Start `headwater serve --no-api` for `project` (its output goes to `log`); the
    runner polls for runs every second."""
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    with open(log, "wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "headwater", "serve", "--no-api", "--project",
             str(project.file)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )


def serve_project(project: Project, api: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `headwater serve --no-api` for `project` until the generator is closed."""
    process = start_serve(project, api, log)
    try:
        deadline = time.monotonic() + 120
        wanted = {"sync-orders", "sync-customers", "dbt-build"}
        while not wanted <= set(served_deployments(api, project)):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the runner did not serve {wanted}:\n{log.read_text()}")
            time.sleep(0.5)
        time.sleep(1.5)  # the runner polls for runs once it has registered them
        yield process
    finally:
        process.terminate()
        process.wait(timeout=30)


def with_own_store(project: Project, directory: Path) -> Project:
    """`project` with its metadata DB in `directory` (one fresh DB per test)."""
    store = StoreConfig(path=str(directory / "metadata.sqlite"))
    return replace(project, config=project.config.model_copy(update={"store": store}))


async def wait_for_state(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    run_id: str,
    states: set[str],
    seconds: float = 120,
) -> dict[str, Any]:
    """Poll `GET /api/runs/{id}` until the run is in one of `states`."""
    import anyio

    deadline = time.monotonic() + seconds
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = await client.get(f"/api/runs/{run_id}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        if body["state"] in states:
            return body
        await anyio.sleep(0.5)
    raise AssertionError(f"run {run_id} never reached {states}; last: {body}")
