"""The dbt_build flow in a real Prefect server, and the build a sync starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headwater.config import Project
from headwater.dbt.history import node_status
from headwater.dbt.profile import dbt_paths
from headwater.runs import prefect_request
from tests.conftest import wait_for_event
from tests.dbt.conftest import new_project

pytestmark = pytest.mark.slow

STG_ORDERS = "model.headwater_demo.stg_orders"
DAILY = "model.headwater_demo.daily_orders"
STG_CUSTOMERS = "model.headwater_demo.stg_customers"
REVENUE = "model.headwater_demo.customer_revenue"



def _artifact_rows(api: str, run_id: str) -> list[dict[str, Any]]:
    import json

    body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": ["dbt-build"]}}}
    [artifact] = prefect_request(api, "/artifacts/filter", body)
    data = artifact["data"]
    rows: list[dict[str, Any]] = json.loads(data) if isinstance(data, str) else data
    return rows


def test_flow_reports_every_node_and_fails_with_the_messages(
    lake_project: Project, prefect_api: str
) -> None:
    from flows.dbt_build import dbt_build

    state = dbt_build(project_file=str(lake_project.file), return_state=True)
    assert state.is_completed(), state.message
    run_id = str(state.state_details.flow_run_id)
    rows = {row["name"]: row for row in _artifact_rows(prefect_api, run_id)}
    assert rows["stg_orders"]["status"] == "success" and rows["stg_orders"]["type"] == "model"
    assert rows["daily_orders"]["rows"] == 3 and rows["customer_revenue"]["rows"] == 20
    assert rows["unique_stg_orders_order_id"]["status"] == "pass"
    event = wait_for_event(prefect_api, "headwater.dbt.completed", run_id)
    assert event["select"] == [] and "daily_orders" in event["models"]

    broken = dbt_paths(lake_project).project_dir / "models" / "broken.sql"
    broken.write_text("select missing_column from {{ ref('stg_orders') }}\n")
    try:
        state = dbt_build(select=["broken"], project_file=str(lake_project.file),
                          return_state=True)
    finally:
        broken.unlink()
    assert state.is_failed()
    with pytest.raises(Exception, match=r"model broken failed: .*missing_column") as caught:
        state.result()
    assert "compiled SQL: " in str(caught.value)
    run_id = str(state.state_details.flow_run_id)
    assert _artifact_rows(prefect_api, run_id)[0]["status"] == "error"
    event = wait_for_event(prefect_api, "headwater.dbt.failed", run_id)
    assert list(event["failures"]) == ["model.headwater_demo.broken"]


def _write_csv(path: Path, header: str, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *lines]) + "\n")


def test_sync_builds_only_what_depends_on_its_source(tmp_path: Path, prefect_api: str) -> None:
    from flows.sync import sync_source

    project = new_project(tmp_path / "proj")
    _write_csv(
        project.root / "data/orders.csv",
        "order_id,customer_id,ordered_at,status,amount,currency",
        [f"{i},{i % 3 + 1},2025-01-0{i % 2 + 1}T10:00:00Z,placed,5.5,EUR" for i in range(1, 11)],
    )
    _write_csv(project.root / "data/customers.csv",
               "customer_id,name,email,country,signed_up_on",
               [f"{i},C{i},c{i}@x.org,PT,2024-01-01" for i in range(1, 4)])

    sync_source(source="orders", project_file=str(project.file))
    first = node_status(project)
    assert first[STG_ORDERS]["status"] == "success" and first[DAILY]["rows"] == 2
    # customers was never synced: its models wait (and the relationship test with them).
    assert STG_CUSTOMERS not in first and REVENUE not in first

    sync_source(source="orders", project_file=str(project.file))  # unchanged file: 0 rows
    assert node_status(project) == first

    sync_source(source="customers", project_file=str(project.file))
    after = node_status(project)
    assert after[STG_CUSTOMERS]["status"] == "success"
    assert after[REVENUE]["status"] == "success" and after[REVENUE]["rows"] == 3
    assert after[STG_ORDERS] == first[STG_ORDERS]  # not downstream of customers: not rebuilt
