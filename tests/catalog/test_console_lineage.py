"""Consoles in the lineage DAG, over the tiny dbt project's real build: nodes, edges from what
their SQL reads, impact, search, subgraphs, and `headwater lineage`."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import duckdb
import pytest
from typer.testing import CliRunner

from headwater.catalog import Catalog, catalog_from, load_manifest
from headwater.catalog.consoles import (
    ConsoleInfo,
    project_consoles,
    project_lineage,
    resolve_table,
    search,
)
from headwater.catalog.lineage import UnknownNodeError
from headwater.cli import app
from headwater.config import Project
from tests.catalog.tiny_dbt import attach, tiny_build
from tests.conftest import MakeProject

CONSOLES_YML = """
project: {name: consoles_lineage}
consoles:
  daily:
    description: Daily totals per customer
    sql: |
      SELECT d.name, sum(d.amount) AS total, count(e.event_id) AS events
      FROM lake.main.d AS d CROSS JOIN raw_shop.events AS e
      LEFT JOIN elsewhere.thing AS t ON t.id = d.id
      GROUP BY 1
    materialize: true
  weekly:
    file: consoles/weekly.sql
  orders_seen:
    sql: SELECT count(*) FROM raw_orders.orders JOIN c USING (id)
  broken:
    file: consoles/broken.sql
  lost:
    file: consoles/missing.sql
"""


@pytest.fixture(scope="module")
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = attach(tiny_build())
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def catalog(conn: duckdb.DuckDBPyConnection) -> Catalog:
    return catalog_from(conn, load_manifest(tiny_build().target_dir))


@pytest.fixture
def project(make_project: MakeProject) -> Project:
    made = make_project(CONSOLES_YML)
    (made.root / "consoles").mkdir()
    (made.root / "consoles" / "weekly.sql").write_text("SELECT * FROM consoles.daily")
    (made.root / "consoles" / "broken.sql").write_text("SELECT name FROM d WHERE (")
    return made


def test_consoles_read_their_sql(project: Project) -> None:
    consoles = {c.name: c for c in project_consoles(project)}
    assert list(consoles) == ["broken", "daily", "lost", "orders_seen", "weekly"]
    daily = consoles["daily"]
    assert daily.reads == ("elsewhere.thing", "lake.main.d", "raw_shop.events")
    assert (daily.relation, daily.error, daily.node_id) == ("consoles.daily", None, "console:daily")
    assert consoles["weekly"].reads == ("consoles.daily",) and consoles["weekly"].relation is None
    assert consoles["broken"].reads == () and "syntax error" in (consoles["broken"].error or "")
    lost = consoles["lost"]
    assert lost.sql is None and "missing.sql" in (lost.error or "")


def test_console_nodes_and_edges(project: Project, catalog: Catalog) -> None:
    graph = project_lineage(catalog, project_consoles(project))
    daily = graph.nodes["console:daily"]
    assert (daily.name, daily.resource_type, daily.relation) == (
        "daily", "console", "consoles.daily"
    )
    # `lake.main.d` is model d; raw_shop.events no dbt source declares; elsewhere.thing is
    # no node and is left out without an error
    assert graph.parents["console:daily"] == ("model.tiny.d", "table.raw_shop.events")
    assert graph.nodes["table.raw_shop.events"].resource_type == "table"
    assert graph.parents["console:weekly"] == ("console:daily",)  # reads consoles.daily
    # a bare name is a table of `main`, as in a warehouse session
    assert graph.parents["console:orders_seen"] == ("model.tiny.c", "source.tiny.orders.orders")
    for name in ("broken", "lost"):
        node = graph.nodes[f"console:{name}"]
        assert node.error and graph.parents[node.id] == ()
    assert graph.find("daily").id == "console:daily"
    # the dbt graph is all there too
    assert graph.parents["model.tiny.a"] == (
        "source.tiny.orders.orders", "source.tiny.shop.customers"
    )


def test_impact_reaches_consoles(project: Project, catalog: Catalog) -> None:
    graph = project_lineage(catalog, project_consoles(project))
    assert [(i.node.id, i.distance) for i in graph.impact("a")] == [
        ("model.tiny.b", 1), ("model.tiny.c", 1), ("model.tiny.d", 2),
        ("console:orders_seen", 2), ("console:daily", 3), ("console:weekly", 4),
    ]
    assert [i.node.id for i in graph.impact("raw_shop.events")] == [
        "console:daily", "console:weekly"
    ]
    assert graph.impact("weekly") == []


def test_console_cycles_and_no_manifest(conn: duckdb.DuckDBPyConnection) -> None:
    looped = [
        ConsoleInfo("x", "", "", ("consoles.y", "raw_orders.orders"), "consoles.x", None),
        ConsoleInfo("y", "", "", ("consoles.x",), "consoles.y", None),
    ]
    raw_only = catalog_from(conn, None)  # dbt never ran: raw tables and consoles only
    graph = project_lineage(raw_only, looped)
    assert sorted(graph.nodes) == [
        "console:x", "console:y", "table.raw_orders.orders", "table.raw_shop.customers",
        "table.raw_shop.events",
    ]
    assert graph.parents["console:x"] == ("console:y", "table.raw_orders.orders")
    assert [(i.node.id, i.distance) for i in graph.impact("x")] == [("console:y", 1)]
    assert [n.node.name for n in graph.downstream("x").children] == ["y"]


def test_resolve_table() -> None:
    relations = {"main.d": "model.d", "raw_orders.orders": "source.orders"}
    assert resolve_table("LAKE.Main.D", relations) == "model.d"
    assert resolve_table("d", relations) == "model.d"
    assert resolve_table("raw_orders.orders", relations) == "source.orders"
    assert resolve_table("other.main.d", relations) is None
    assert resolve_table("orders", relations) is None


def test_subgraph(project: Project, catalog: Catalog) -> None:
    graph = project_lineage(catalog, project_consoles(project))
    up = graph.subgraph("d", "upstream", 1)
    assert sorted(up.nodes) == ["model.tiny.b", "model.tiny.c", "model.tiny.d"]
    assert len(up.edges) == 2
    both = graph.subgraph("d", max_depth=1)
    assert sorted(both.nodes) == [
        "console:daily", "model.tiny.b", "model.tiny.c", "model.tiny.d"
    ]
    assert len(graph.subgraph("d", "upstream").nodes) == 6  # d, b, c, a and two sources
    assert list(graph.subgraph("d", max_depth=0).nodes) == ["model.tiny.d"]
    with pytest.raises(UnknownNodeError, match="did you mean daily"):
        graph.subgraph("dailly")


def test_search_finds_consoles(project: Project, catalog: Catalog) -> None:
    hits = search(catalog, project_consoles(project), "daily")
    assert [(h.kind, h.name, h.rank) for h in hits] == [
        ("console", "daily", 0), ("console", "weekly", 2)
    ]
    by_sql = search(catalog, project_consoles(project), "event_id")
    assert ("console", "daily", 3) in [(h.kind, h.name, h.rank) for h in by_sql]
    assert ("raw_table", "events", 2) in [(h.kind, h.name, h.rank) for h in by_sql]


def test_cli_lineage_shows_consoles(project: Project) -> None:
    shutil.copytree(tiny_build().target_dir, project.state_dir / "dbt" / "target")
    runner = CliRunner()
    args = ["lineage", "a", "--downstream", "--project", str(project.file)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "orders_seen (console)" in result.output
    assert "daily (console)" in result.output and "weekly (console)" in result.output
    above = runner.invoke(app, ["lineage", "weekly", "--upstream", "--project",
                                str(project.file)], env={"COLUMNS": "200"})
    assert above.exit_code == 0, above.output
    assert "daily (console)" in above.output and "d (model)" in above.output
    broken = runner.invoke(app, ["lineage", "broken", "--project", str(project.file)],
                           env={"COLUMNS": "200"})
    assert broken.exit_code == 0, broken.output
    assert "note: broken: SQL syntax error" in broken.output


def test_cli_lineage_without_manifest_says_what_to_run(project: Project) -> None:
    result = CliRunner().invoke(app, ["lineage", "a", "--project", str(project.file)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "no dbt manifest" in result.output and "headwater dbt build" in result.output
