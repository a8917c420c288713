"""models/sources.yml generation keeps what people wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from headwater.config import Project
from headwater.dbt.profile import dbt_paths
from headwater.dbt.sources import MISSING_NOTE, generate_sources, merge_sources
from headwater.warehouse import Warehouse
from tests.conftest import MakeProject

HAND_WRITTEN = """\
# our notes about the sources stay
version: 2
sources:
  - name: orders
    description: Hand-written source description.
    loader: dlt   # an extra key
    database: lake
    schema: raw_orders
    tables:
      - name: orders
        description: Hand-written table description.
        meta: {owner: finance}
        columns:
          - name: order_id
            description: The order.
            data_tests: [unique, not_null]
          - name: legacy_code
            description: Dropped upstream last year.
      - name: old_orders
        description: Still documented.
  - name: manual
    schema: elsewhere
    tables: [{name: thing}]
"""


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text())


def test_merge_keeps_hand_edits_adds_new_and_marks_missing(make_project: MakeProject) -> None:
    project = make_project(
        "project:\n  name: s\nsources:\n  orders:\n    type: files\n"
        "    description: Orders from the shop\n"
        "    tables:\n      orders: {path: o.csv}\n      returns: {path: r.csv}\n"
    )
    path = dbt_paths(project).sources_file
    path.parent.mkdir(parents=True)
    path.write_text(HAND_WRITTEN)

    update = merge_sources(
        project,
        {"orders": {"orders": {"order_id": "BIGINT", "amount": "DOUBLE"},
                    "returns": {"return_id": "BIGINT"}}},
    )
    assert update.changed
    assert "orders.orders.amount" in update.added and "orders.returns" in update.added
    assert set(update.missing) == {"orders.orders.legacy_code", "orders.old_orders"}

    text = path.read_text()
    assert text.startswith("# our notes about the sources stay")
    assert "loader: dlt   # an extra key" in text
    assert text.count(MISSING_NOTE) == 2
    doc = _load(path)
    orders = doc["sources"][0]
    assert orders["description"] == "Hand-written source description."
    [table, old, returns] = orders["tables"]
    assert table["meta"] == {"owner": "finance"}
    assert table["description"] == "Hand-written table description."
    columns = {c["name"]: c for c in table["columns"]}
    assert columns["order_id"]["data_tests"] == ["unique", "not_null"]
    assert columns["order_id"]["data_type"] == "BIGINT"
    assert columns["amount"] == {"name": "amount", "data_type": "DOUBLE"}
    assert columns["legacy_code"]["description"] == "Dropped upstream last year."
    assert old == {"name": "old_orders", "description": "Still documented."}
    assert returns["columns"] == [{"name": "return_id", "data_type": "BIGINT"}]
    assert doc["sources"][1] == {"name": "manual", "schema": "elsewhere",
                                 "tables": [{"name": "thing"}]}

    # Idempotent, and a column that comes back loses its note.
    assert not merge_sources(
        project,
        {"orders": {"orders": {"order_id": "BIGINT", "amount": "DOUBLE"},
                    "returns": {"return_id": "BIGINT"}}},
    ).changed
    merge_sources(
        project,
        {"orders": {"orders": {"order_id": "BIGINT", "amount": "DOUBLE", "legacy_code": "INT"},
                    "returns": {"return_id": "BIGINT"}}},
    )
    assert path.read_text().count(MISSING_NOTE) == 1


def test_new_file_names_sources_after_headwater_sources(make_project: MakeProject) -> None:
    project = make_project(
        "project:\n  name: s\nsources:\n  shop:\n    type: files\n"
        "    description: The shop\n    tables:\n      orders: {path: o.csv}\n"
    )
    update = merge_sources(project, {"shop": {"orders": {"id": "BIGINT"}}})
    doc = _load(update.path)
    assert doc["version"] == 2
    assert doc["sources"] == [{
        "name": "shop", "description": "The shop", "database": "lake", "schema": "raw_shop",
        "tables": [{"name": "orders", "columns": [{"name": "id", "data_type": "BIGINT"}]}],
    }]


def test_generate_reads_raw_schemas_without_dlt_tables(lake_project: Project) -> None:
    with Warehouse(lake_project).writer() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS raw_orders._dlt_loads (load_id VARCHAR)")
        conn.execute("CREATE SCHEMA IF NOT EXISTS _hw_staging_raw_orders")
        conn.execute("CREATE TABLE IF NOT EXISTS _hw_staging_raw_orders.orders (x INT)")
    generate_sources(lake_project)
    doc = _load(dbt_paths(lake_project).sources_file)
    by_name = {source["name"]: source for source in doc["sources"]}
    assert [t["name"] for t in by_name["orders"]["tables"]] == ["orders"]
    orders = by_name["orders"]["tables"][0]
    # The committed demo file's hand-written entries survive generation.
    assert orders["description"] == "One row per web shop order, merged on order_id."
    assert [c["name"] for c in orders["columns"]][:2] == ["order_id", "customer_id"]
    assert by_name["crm"]["schema"] == "raw_crm"  # not a source of this project: untouched
