"""`headwater lineage`: model and column trees over a real dbt build of the demo models."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.catalog.column_graph import ColumnGraph, warehouse_schema
from headwater.catalog.column_lineage import ColumnRef
from headwater.catalog.manifest import load_manifest
from headwater.cli import app
from headwater.config import Project
from headwater.dbt.runner import build
from headwater.warehouse import Warehouse
from tests.dbt.conftest import new_project, write_raw

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    project = new_project(tmp_path_factory.mktemp("lineage") / "proj")
    write_raw(project)
    assert build(project).success
    return project


def lineage(project: Project, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["lineage", *args, "--project", str(project.file)], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


def test_model_lineage_both_ways(built: Project) -> None:
    code, output = lineage(built, "stg_orders")
    assert code == 0, output
    upstream, downstream = output.split("stg_orders (model) downstream")
    assert "orders.orders (source)" in upstream
    assert "customer_revenue (model)" in downstream and "daily_orders (model)" in downstream


def test_column_lineage_upstream_reaches_raw_columns(built: Project) -> None:
    code, output = lineage(built, "customer_revenue", "--column", "revenue", "--upstream")
    assert code == 0, output
    assert "staging.stg_orders.amount aggregation" in output
    assert "raw_orders.orders.amount" in output
    assert "downstream" not in output


def test_column_lineage_downstream_of_a_raw_column(built: Project) -> None:
    with Warehouse(built).reader() as conn:
        schema = warehouse_schema(conn)
    graph = ColumnGraph(
        load_manifest(Warehouse(built).project.state_dir / "dbt" / "target"), schema
    )
    tree = graph.downstream(ColumnRef("raw_orders.orders", "amount"))
    [stg] = tree.children
    assert stg.column == ColumnRef("staging.stg_orders", "amount")
    assert {child.column.table for child in stg.children} == {
        "marts.customer_revenue",
        "marts.daily_orders",
    }
    assert graph.problems == {}


def test_unknown_node_and_column_are_clear_errors(built: Project) -> None:
    code, output = lineage(built, "stg_ordrs")
    assert code == 1 and "did you mean stg_orders" in output
    code, output = lineage(built, "stg_orders", "--column", "amountt")
    assert code == 1 and "has no column 'amountt'" in output and "amount" in output


def test_lineage_before_any_build_says_what_to_run(tmp_path: Path) -> None:
    project = new_project(tmp_path / "fresh")
    code, output = lineage(project, "stg_orders")
    assert code == 1 and "headwater dbt build" in output
