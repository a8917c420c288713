"""The catalog over a real dbt build and a real warehouse: raw tables, models, seeds, search."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import pytest

from headwater.catalog import (
    Catalog,
    UnknownNodeError,
    build_catalog,
    catalog_from,
    load_manifest,
)
from headwater.warehouse import Warehouse
from tests.catalog.tiny_dbt import attach, tiny_build
from tests.conftest import MakeProject


@pytest.fixture(scope="module")
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = attach(tiny_build())
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def catalog(conn: duckdb.DuckDBPyConnection) -> Catalog:
    return catalog_from(conn, load_manifest(tiny_build().target_dir))


def test_every_raw_table_model_and_seed_is_listed(catalog: Catalog) -> None:
    assert [(e.kind, e.name) for e in catalog.entries] == [
        ("raw_table", "orders.orders"), ("raw_table", "shop.customers"), ("raw_table", "events"),
        ("model", "a"), ("model", "b"), ("model", "c"), ("seed", "countries"), ("model", "d"),
    ]
    assert all(e.in_warehouse for e in catalog.entries)
    assert not any(e.table.startswith("_dlt_") for e in catalog.entries)


def test_raw_table_joins_warehouse_and_dbt_source(catalog: Catalog) -> None:
    orders = catalog.entry("raw_orders.orders")
    assert orders.id == "source.tiny.orders.orders"
    assert orders.description == "One row per order"
    assert [(c.name, c.data_type, c.description) for c in orders.columns] == [
        ("id", "INTEGER", "order id"), ("customer_id", "INTEGER", ""),
        ("amount", "DECIMAL(2,1)", ""),
    ]
    assert orders.row_count == 3
    # the latest *successful* dlt load (status 0); the failed later one does not count
    assert orders.last_updated == datetime(2026, 1, 3, tzinfo=UTC)
    [test] = orders.columns[0].tests
    assert (test.test_name, test.status, test.failures) == ("not_null", "pass", 0)


def test_undeclared_raw_table_still_listed(catalog: Catalog) -> None:
    events = catalog.entry("events")
    assert (events.id, events.relation, events.row_count) == (
        "table.raw_shop.events", "raw_shop.events", 1
    )
    assert events.last_updated is None and events.tests == ()


def test_model_entry(catalog: Catalog) -> None:
    a = catalog.entry("a")
    assert (a.owner, a.tags, a.materialized, a.row_count) == ("alice", ("core",), "table", 3)
    assert [(c.name, c.data_type) for c in a.columns] == [
        ("id", "INTEGER"), ("amount", "DECIMAL(2,1)"), ("name", "VARCHAR")
    ]
    assert a.columns[0].description == "the order id"
    assert [t.test_name for t in a.columns[0].tests] == ["unique"]
    assert a.last_status == "success" and a.last_updated is not None
    d = catalog.entry("model.tiny.d")
    assert d.owner == "bob"
    [warn] = d.tests
    assert (warn.test_name, warn.column, warn.status, warn.failures) == (
        "accepted_values", "name", "warn", 1
    )
    assert catalog.entry("countries").row_count == 2


def test_model_details(catalog: Catalog) -> None:
    details = catalog.details("d")
    assert details.raw_sql and "{{ ref('b') }}" in details.raw_sql
    assert details.compiled_sql and '"lake"."main"."b"' in details.compiled_sql
    assert [p.name for p in details.parents] == ["b", "c"]
    assert details.children == ()
    assert [c.name for c in catalog.details("a").children] == ["b", "c"]
    raw = catalog.details("orders.orders")
    assert raw.raw_sql is None and [c.name for c in raw.children] == ["a"]


def test_search_ranks_name_matches_first(catalog: Catalog) -> None:
    assert [e.name for e in catalog.search("customer")] == [
        "shop.customers",  # name
        "orders.orders",  # column customer_id
        "a", "c",  # descriptions
    ]
    assert [e.name for e in catalog.search("COUNTRIES")] == ["countries"]
    assert [e.name for e in catalog.search("display name")] == ["c"]  # column description
    assert catalog.search("no such thing") == []
    assert len(catalog.search("")) == len(catalog.entries)


def test_unknown_entry_suggests_close_names(catalog: Catalog) -> None:
    with pytest.raises(UnknownNodeError, match=r"did you mean.*countries"):
        catalog.entry("countrie")


def test_without_manifest_only_raw_tables(conn: duckdb.DuckDBPyConnection) -> None:
    catalog = catalog_from(conn, None)
    assert [e.relation for e in catalog.entries] == [
        "raw_orders.orders", "raw_shop.customers", "raw_shop.events"
    ]
    assert catalog.lineage is None and catalog.entries[0].description == ""


def test_without_warehouse_sources_are_listed_as_not_loaded() -> None:
    catalog = catalog_from(None, load_manifest(tiny_build().target_dir))
    orders = catalog.entry("orders.orders")
    assert (orders.kind, orders.in_warehouse, orders.row_count) == ("raw_table", False, None)
    assert [c.name for c in orders.columns] == ["id"]


def test_build_catalog_from_a_project(make_project: MakeProject) -> None:
    project = make_project("project:\n  name: cat\n")
    with Warehouse(project).writer() as writer:
        writer.execute("CREATE SCHEMA raw_demo")
        writer.execute("CREATE TABLE raw_demo.items AS SELECT range AS id FROM range(5)")
        writer.execute("CREATE TABLE raw_demo._dlt_loads AS SELECT '1' AS load_id, 0 AS status, "
                       "TIMESTAMPTZ '2026-03-01 12:00:00+00' AS inserted_at")
    [items] = build_catalog(project).entries  # no manifest yet: raw tables only
    assert (items.relation, items.row_count) == ("raw_demo.items", 5)
    assert items.last_updated == datetime(2026, 3, 1, 12, tzinfo=UTC)
    target = project.state_dir / "dbt" / "target"
    shutil.copytree(tiny_build().target_dir, target)
    catalog = build_catalog(project)
    assert catalog.entry("items").in_warehouse
    assert not catalog.entry("a").in_warehouse  # the tiny models live in another warehouse
    assert catalog.manifest is not None and catalog.lineage is not None
