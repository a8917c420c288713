"""Real dbt builds of the demo models against a real DuckLake warehouse."""

from __future__ import annotations

import time

import pytest

from headwater.config import Project
from headwater.dbt.history import node_status
from headwater.dbt.profile import dbt_paths, write_profile
from headwater.dbt.runner import build, list_selected, parse
from headwater.warehouse import Warehouse
from tests.dbt.conftest import CUSTOMERS

pytestmark = pytest.mark.slow


def test_profile_attaches_the_lake_and_never_installs_extensions(lake_project: Project) -> None:
    text = write_profile(lake_project).read_text()
    assert "ducklake:sqlite:" in text and "alias: lake" in text and "database: lake" in text
    assert "extension_directory:" in text and "autoinstall_known_extensions: false" in text
    assert f"data_path: {Warehouse(lake_project).data_path}/" in text


def test_build_lands_models_in_staging_and_marts(lake_project: Project) -> None:
    result = build(lake_project)
    assert result.success, result.failure_message()
    by_name = {node.name: node for node in result.nodes}
    assert by_name["stg_orders"].status == "success"
    assert by_name["stg_orders"].materialized == "view"
    revenue = by_name["customer_revenue"]
    assert revenue.materialized == "table" and revenue.rows_affected == CUSTOMERS
    assert revenue.compiled_path and revenue.compiled_path.endswith("customer_revenue.sql")
    assert by_name["unique_stg_orders_order_id"].status == "pass"
    assert not result.failures

    with Warehouse(lake_project).reader() as conn:
        schemas = Warehouse(lake_project).schemas(conn)
        total = conn.execute("SELECT sum(order_count) FROM marts.customer_revenue").fetchone()
        days = conn.execute("SELECT count(*) FROM lake.marts.daily_orders").fetchone()
    assert {"staging", "marts"} <= set(schemas)
    assert not any(schema.endswith("_staging") and schema.startswith("main") for schema in schemas)
    assert total == (50,) and days is not None and days[0] == 3  # 50 hourly orders: 3 days

    status = node_status(lake_project)
    assert status["model.headwater_demo.customer_revenue"]["rows"] == CUSTOMERS
    assert status["model.headwater_demo.stg_orders"]["status"] == "success"


def test_partial_parsing_is_kept_between_runs(lake_project: Project) -> None:
    target = dbt_paths(lake_project).target_dir
    (target / "partial_parse.msgpack").unlink(missing_ok=True)
    assert parse(lake_project).success
    assert (target / "partial_parse.msgpack").is_file()  # the full parse wrote it

    # dbt's debug log (always written to the log file) says which kind of parse it did;
    # a timing comparison would say the same only on a quiet machine.
    log = dbt_paths(lake_project).log_dir / "dbt.log"
    seen = log.stat().st_size
    assert parse(lake_project).success
    with open(log, "rb") as file:
        file.seek(seen)
        second = file.read().decode(errors="replace")
    assert "Partial parsing enabled" in second
    assert "Unable to do partial parsing" not in second
    assert (target / "partial_parse.msgpack").is_file()


def test_failing_model_names_model_compiled_sql_and_database_error(
    lake_project: Project,
) -> None:
    broken = dbt_paths(lake_project).project_dir / "models" / "marts" / "broken_orders.sql"
    broken.write_text("select no_such_column from {{ ref('stg_orders') }}\n")
    try:
        result = build(lake_project, select=["broken_orders"])
    finally:
        broken.unlink()
    assert not result.success
    [failure] = result.failures
    assert failure.name == "broken_orders" and failure.status == "error"
    message = result.failure_message()
    assert message.startswith("model broken_orders failed:")
    assert "no_such_column" in message and "Binder Error" in message
    assert failure.compiled_path is not None and failure.compiled_path in message
    assert dbt_paths(lake_project).target_dir.as_posix() in failure.compiled_path


def test_selector_listing(lake_project: Project) -> None:
    models = list_selected(lake_project, ["source:customers+"])
    assert models == [
        "model.headwater_demo.customer_revenue",
        "model.headwater_demo.stg_customers",
    ]
    assert list_selected(lake_project, ["source:orders.orders+"]) == [
        "model.headwater_demo.customer_revenue",
        "model.headwater_demo.daily_orders",
        "model.headwater_demo.stg_orders",
    ]


def test_downstream_models_from_a_current_or_stale_manifest(lake_project: Project) -> None:
    from headwater.dbt.selection import downstream_models

    assert parse(lake_project).success
    expected = ["model.headwater_demo.customer_revenue", "model.headwater_demo.stg_customers"]
    started = time.monotonic()
    assert downstream_models(lake_project, "customers", ["customers"]) == expected
    assert time.monotonic() - started < 0.5  # from manifest.json, no dbt start-up
    assert downstream_models(lake_project, "customers", ["no_such_table"]) == []

    # A model added since the last parse: the manifest is stale, dbt ls answers.
    extra = dbt_paths(lake_project).project_dir / "models" / "marts" / "customer_list.sql"
    extra.write_text("select customer_id from {{ ref('stg_customers') }}\n")
    try:
        assert downstream_models(lake_project, "customers", ["customers"]) == [
            "model.headwater_demo.customer_list", *expected
        ]
    finally:
        extra.unlink()
    assert downstream_models(lake_project, "customers", ["customers"]) == expected
