"""The table summary: catalog entries joined with source freshness and PII flags."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from headwater.catalog import Catalog, catalog_from, load_manifest
from headwater.catalog.summary import build_summary, project_summary
from headwater.governance.freshness import Freshness, FreshnessState
from headwater.store import MetadataStore
from headwater.warehouse import Warehouse
from tests.catalog.tiny_dbt import attach, tiny_build
from tests.conftest import MakeProject

TINY_SOURCES = """
project: {name: summary}
sources:
  orders: {type: files, tables: {orders: {path: data/orders.csv}}}
  shop: {type: files, tables: {customers: {path: data/customers.csv}}}
"""
"""Sources whose schemas (raw_orders, raw_shop) are the tiny build's raw schemas."""

SYNCED = datetime(2026, 1, 3, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Iterator[Catalog]:
    conn: duckdb.DuckDBPyConnection = attach(tiny_build())
    yield catalog_from(conn, load_manifest(tiny_build().target_dir))
    conn.close()


def freshness(source: str, state: FreshnessState, synced: datetime | None) -> Freshness:
    return Freshness(source, state, state == "stale", synced, timedelta(hours=1), "freshness: 1h",
                     f"{source} is {state}")


def test_summary_joins_freshness_and_pii(make_project: MakeProject, catalog: Catalog) -> None:
    project = make_project(TINY_SOURCES)
    states = {
        "orders": freshness("orders", "stale", SYNCED),
        "shop": freshness("shop", "fresh", SYNCED + timedelta(days=1)),
    }
    pii = {"RAW_SHOP.customers": {"Name": ["name"]}, "main.c": {"name": ["name", "declared"]}}
    tables = {t.relation: t for t in build_summary(project, catalog, states, pii)}
    assert list(tables) == [e.relation for e in catalog.entries]

    orders = tables["raw_orders.orders"]
    assert (orders.kind, orders.name, orders.row_count, orders.materialized) == (
        "raw_table", "orders.orders", 3, None
    )
    assert (orders.sources, orders.freshness, orders.stale, orders.stale_sources) == (
        ("orders",), "stale", True, ("orders",)
    )
    assert orders.last_updated == SYNCED and orders.oldest_sync == SYNCED
    assert (orders.columns[0].name, orders.columns[0].type, orders.columns[0].pii) == (
        "id", "INTEGER", ()
    )
    assert not orders.pii

    events = tables["raw_shop.events"]  # no dbt source declares it: still the shop's table
    assert (events.sources, events.freshness, events.stale) == (("shop",), "fresh", False)

    customers = tables["raw_shop.customers"]
    assert [(c.name, c.pii) for c in customers.columns] == [("id", ()), ("name", ("name",))]
    assert customers.pii

    a = tables["main.a"]  # a model reading both sources is as fresh as the worse one
    assert (a.kind, a.materialized, a.sources) == ("model", "table", ("orders", "shop"))
    assert (a.freshness, a.stale, a.stale_sources, a.oldest_sync) == (
        "stale", True, ("orders",), SYNCED
    )
    assert tables["main.d"].sources == ("orders", "shop")  # through b and c
    c = tables["main.c"]
    assert [(col.name, col.pii) for col in c.columns if col.pii] == [
        ("name", ("declared", "name"))
    ]
    seed = tables["main.countries"]
    assert (seed.sources, seed.freshness, seed.stale, seed.oldest_sync) == ((), None, None, None)


def test_unknown_and_unmonitored_freshness(make_project: MakeProject, catalog: Catalog) -> None:
    project = make_project(TINY_SOURCES)
    states = {
        "orders": freshness("orders", "never_synced", None),
        "shop": freshness("shop", "unmonitored", None),
    }
    tables = {t.relation: t for t in build_summary(project, catalog, states, {})}
    a = tables["main.a"]
    assert (a.freshness, a.stale, a.stale_sources, a.oldest_sync) == (
        "never_synced", None, (), None
    )
    assert tables["raw_shop.customers"].freshness == "unmonitored"
    unknown = {t.relation: t for t in build_summary(project, catalog, {}, {})}
    assert (unknown["main.a"].freshness, unknown["main.a"].stale) == (None, None)
    assert unknown["main.a"].sources == ("orders", "shop")


class _NotFound(BaseHTTPRequestHandler):
    """A server that is not Prefect: 404 to everything."""

    def do_GET(self) -> None:
        self.send_error(404)

    def do_POST(self) -> None:
        self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def not_prefect() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_project_summary_reads_pii_and_reports_missing_freshness(
    make_project: MakeProject, not_prefect: str
) -> None:
    project = make_project("""
        project: {name: summary_project}
        sources:
          people:
            type: files
            freshness: 2h
            tables: {people: {path: data/people.csv}}
        governance:
          pii_overrides:
            - {source: people, table: people, column: email, pii: true, reason: emails}
    """)
    with Warehouse(project).writer() as conn:
        conn.execute("CREATE SCHEMA raw_people")
        conn.execute("CREATE TABLE raw_people.people AS SELECT 1 AS id, 'a@b.pt' AS email")
    store = MetadataStore.open(project)
    try:
        summary = project_summary(project, store, not_prefect)
    finally:
        store.close()
    [people] = summary.tables
    assert (people.relation, people.sources, people.row_count) == ("raw_people.people",
                                                                   ("people",), 1)
    assert [(c.name, c.pii) for c in people.columns] == [("id", ()), ("email", ("declared",))]
    assert people.freshness is None  # Prefect did not answer: unknown, not "fresh"
    [warning] = summary.warnings
    assert warning.startswith("freshness unknown: ") and "404" in warning
