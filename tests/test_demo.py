"""The demo project at the repo root: its data generates, every source syncs, and the dbt
models downstream of each sync build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from headwater.config import load_project
from headwater.warehouse import Warehouse

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_demo_generates_data_and_syncs_every_source(
    tmp_path: Path, prefect_api: str, pg_url: str
) -> None:
    shutil.copy(REPO / "project.yml", tmp_path / "project.yml")
    shutil.copytree(
        REPO / "dbt_project", tmp_path / "dbt_project", ignore=shutil.ignore_patterns("target")
    )
    shutil.copytree(REPO / "consoles", tmp_path / "consoles")
    result = CliRunner().invoke(
        app, ["demo", "--rows", "2000", "--project", str(tmp_path)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "Prefect UI" in result.output

    project = load_project(tmp_path)
    warehouse = Warehouse(project)
    with warehouse.reader() as conn:
        counts = warehouse.row_counts(conn)
    assert counts[("raw_orders", "orders")] == 2000
    assert counts[("raw_customers", "customers")] == 5000
    assert counts[("raw_crm", "accounts")] == 200
    assert counts[("raw_crm", "contacts")] == 600
    assert counts[("raw_crm", "deals")] == 1000
    assert counts[("raw_shop_pg", "products")] >= 500
    # Each sync built the dbt models downstream of it: the demo builds end to end.
    assert counts[("staging", "stg_orders")] == 2000
    assert counts[("marts", "customer_revenue")] == 5000
    assert counts[("marts", "account_pipeline")] == 200
    assert 0 < counts[("marts", "daily_orders")] <= 365
    # The console ran after the syncs: its assertions passed and it wrote its outputs.
    assert 0 < counts[("consoles", "revenue_by_status")] <= 12
    assert (tmp_path / ".headwater/exports/revenue_by_status.csv").exists()

    # A second run finds nothing new: the CSV is unchanged and the cursors hold.
    again = CliRunner().invoke(app, ["demo", "--rows", "2000", "--project", str(tmp_path)])
    assert again.exit_code == 0, again.output
    with warehouse.reader() as conn:
        assert warehouse.row_counts(conn) == counts
