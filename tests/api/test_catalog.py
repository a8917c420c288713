"""`/api/catalog/*` and `POST /api/lineage` over the demo dbt models built by dbt into a real
warehouse, with consoles reading raw tables, models and each other."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from headwater.cli import app
from headwater.config import Project, load_project
from headwater.dbt.runner import build
from tests.dbt.conftest import copy_dbt_project, write_raw

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

STORE_ENV = "HW_TEST_CATALOG_STORE_URL"
"""Each test gets its own metadata DB (users, keys) over the one built warehouse."""

PROJECT_YML = f"""
project: {{name: catalog_api}}
store: {{url_env: {STORE_ENV}}}
sources:
  orders:
    type: files
    freshness: 1h
    tables:
      orders: {{path: data/orders.csv, primary_key: [order_id]}}
  customers:
    type: files
    tables:
      customers: {{path: data/customers.csv}}
governance:
  pii_overrides:
    - {{source: customers, table: customers, column: email, pii: true, reason: customer emails}}
consoles:
  top_customers:
    description: The five best customers
    sql: SELECT customer_name, revenue FROM marts.customer_revenue ORDER BY revenue DESC LIMIT 5
    materialize: true
  top_of_top:
    sql: SELECT customer_name FROM consoles.top_customers LIMIT 1
  returns:
    file: consoles/returns.sql
  broken:
    file: consoles/broken.sql
"""

RETURNS_SQL = """
WITH r AS (SELECT order_id, amount FROM raw_orders.orders WHERE status = 'returned')
SELECT r.order_id, r.amount, s.order_date
FROM r JOIN lake.staging.stg_orders s USING (order_id)
LEFT JOIN nowhere.missing m ON m.id = r.order_id
"""

Json = dict[str, Any]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The demo's orders/customers models built once for the module, plus four consoles."""
    root = tmp_path_factory.mktemp("catalog_api") / "proj"
    (root / "consoles").mkdir(parents=True)
    (root / "project.yml").write_text(textwrap.dedent(PROJECT_YML).lstrip())
    (root / "consoles" / "returns.sql").write_text(RETURNS_SQL)
    (root / "consoles" / "broken.sql").write_text("SELEC order_id FROM raw_orders.orders")
    copy_dbt_project(root)
    project = load_project(root)
    write_raw(project)
    assert build(project).success
    return project


@pytest.fixture
def api_project(built: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The built project, with a fresh metadata DB for this test's app."""
    monkeypatch.setenv(STORE_ENV, f"sqlite:///{tmp_path / 'metadata.sqlite'}")
    return built


async def get(client: httpx.AsyncClient, headers: dict[str, str], path: str, **params: Any) -> Json:
    response = await client.get(path, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


@pytest.fixture
def viewer(viewer_key: str, bearer: Any) -> dict[str, str]:
    headers: dict[str, str] = bearer(viewer_key)
    return headers


async def test_models_list_and_details(client: httpx.AsyncClient, viewer: dict[str, str]) -> None:
    page = await get(client, viewer, "/api/catalog/models", limit=2)
    assert page["total"] == 4
    assert [m["name"] for m in page["items"]] == ["customer_revenue", "daily_orders"]
    rest = await get(client, viewer, "/api/catalog/models", skip=2)
    assert [m["name"] for m in rest["items"]] == ["stg_customers", "stg_orders"]

    detail = await get(client, viewer, "/api/catalog/models/customer_revenue")
    assert (detail["kind"], detail["relation"], detail["materialized"]) == (
        "model", "marts.customer_revenue", "table"
    )
    assert detail["description"].startswith("Revenue per customer")
    assert detail["last_status"] == "success" and detail["row_count"] == 20
    revenue = next(c for c in detail["columns"] if c["name"] == "revenue")
    assert revenue["data_type"] == "DECIMAL(38,1)" or revenue["data_type"].startswith("DECIMAL")
    assert revenue["description"] == "Sum of amounts of orders that were not returned."
    assert [(t["test_name"], t["status"]) for t in revenue["tests"]] == [("not_null", "pass")]
    assert {t["test_name"] for t in detail["tests"]} >= {"unique", "not_null", "relationships"}
    assert [n["name"] for n in detail["upstream"]] == ["stg_customers", "stg_orders"]
    assert [(n["id"], n["resource_type"]) for n in detail["downstream"]] == [
        ("console:top_customers", "console")
    ]
    assert "{{ ref('stg_orders') }}" in detail["raw_sql"]
    assert '"staging"."stg_orders"' in detail["compiled_sql"]

    raw = await get(client, viewer, "/api/catalog/models/raw_orders.orders")
    assert (raw["kind"], raw["name"], raw["raw_sql"]) == ("raw_table", "orders.orders", None)
    assert {n["id"] for n in raw["downstream"]} == {"model.headwater_demo.stg_orders",
                                                    "console:returns"}

    missing = await client.get("/api/catalog/models/customer_revenu", headers=viewer)
    assert missing.status_code == 404
    assert missing.json()["code"] == "node_not_found"
    assert "did you mean customer_revenue" in missing.json()["detail"]


async def test_search_finds_tables_models_and_consoles(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    found = await get(client, viewer, "/api/catalog/search", q="top_customers")
    assert [(h["kind"], h["name"], h["match"]) for h in found["items"]] == [
        ("console", "top_customers", "name"),  # its name
        ("console", "top_of_top", "column"),  # it reads consoles.top_customers
    ]
    revenue = await get(client, viewer, "/api/catalog/search", q="REVENUE")
    ranked = [(h["name"], h["match"]) for h in revenue["items"]]
    assert ranked[0] == ("customer_revenue", "partial_name")
    assert ("daily_orders", "column") in ranked and ("top_customers", "column") in ranked
    email = await get(client, viewer, "/api/catalog/search", q="email", limit=1)
    assert email["total"] >= 2 and len(email["items"]) == 1
    assert (await client.get("/api/catalog/search", headers=viewer)).status_code == 422


async def test_lineage_dag_with_consoles(client: httpx.AsyncClient, viewer: dict[str, str]) -> None:
    dag = await get(client, viewer, "/api/catalog/lineage")
    nodes = {n["id"]: n for n in dag["nodes"]}
    edges = {(e["parent"], e["child"]) for e in dag["edges"]}
    model = "model.headwater_demo."
    assert nodes["console:top_customers"]["relation"] == "consoles.top_customers"
    assert (f"{model}customer_revenue", "console:top_customers") in edges
    assert ("console:top_customers", "console:top_of_top") in edges
    returns = {p for p, c in edges if c == "console:returns"}
    # the raw source and the model it reads; nowhere.missing is no node and is left out
    assert returns == {"source.headwater_demo.orders.orders", f"{model}stg_orders"}
    broken = nodes["console:broken"]
    assert broken["error"] and "syntax error" in broken["error"]
    assert not any("console:broken" in edge for edge in edges)
    assert (f"{model}stg_orders", f"{model}daily_orders") in edges

    around = await get(client, viewer, "/api/catalog/lineage", node="stg_orders",
                       direction="upstream", depth=1)
    assert {n["id"] for n in around["nodes"]} == {
        f"{model}stg_orders", "source.headwater_demo.orders.orders"
    }
    assert len(around["edges"]) == 1
    below = await get(client, viewer, "/api/catalog/lineage", node="customer_revenue",
                      direction="downstream")
    assert {n["name"] for n in below["nodes"]} == {"customer_revenue", "top_customers",
                                                   "top_of_top"}
    unknown = await client.get("/api/catalog/lineage", params={"node": "nope"}, headers=viewer)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "node_not_found")
    alone = await client.get("/api/catalog/lineage", params={"depth": 1}, headers=viewer)
    assert alone.status_code == 400


async def test_impact_lists_models_and_consoles(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    impact = await get(client, viewer, "/api/catalog/impact/stg_orders")
    assert [(i["node"]["name"], i["distance"]) for i in impact["items"]] == [
        ("customer_revenue", 1), ("daily_orders", 1), ("returns", 1),
        ("top_customers", 2), ("top_of_top", 3),
    ]
    assert impact["items"][2]["node"]["resource_type"] == "console"
    raw = await get(client, viewer, "/api/catalog/impact/raw_orders.orders", limit=2)
    assert raw["total"] == 6 and len(raw["items"]) == 2
    missing = await client.get("/api/catalog/impact/nope", headers=viewer)
    assert missing.status_code == 404


async def test_column_lineage_of_a_model_a_raw_table_and_a_console(
    client: httpx.AsyncClient, viewer: dict[str, str]
) -> None:
    path = "/api/catalog/lineage/columns"
    model = await get(client, viewer, f"{path}/customer_revenue")
    assert model["node"]["name"] == "customer_revenue" and model["problem"] is None
    revenue = next(c for c in model["columns"] if c["name"] == "revenue")
    upstream = {(u["table"], u["column"], u["kind"]) for u in revenue["upstream"]}
    assert ("staging.stg_orders", "amount", "aggregation") in upstream
    assert ("staging.stg_orders", "customer_id", "join_key") in upstream
    assert {(d["table"], d["column"], d["node"]) for d in revenue["downstream"]} == {
        ("consoles.top_customers", "revenue", "console:top_customers")
    }
    one = await get(client, viewer, f"{path}/customer_revenue", column="COUNTRY")
    [country] = one["columns"]
    assert [(u["table"], u["column"], u["kind"]) for u in country["upstream"]
            if u["kind"] == "passthrough"] == [("staging.stg_customers", "country", "passthrough")]

    raw = await get(client, viewer, f"{path}/orders.orders", column="amount")
    [amount] = raw["columns"]
    assert amount["upstream"] == []
    down = {(d["table"], d["column"], d["kind"]) for d in amount["downstream"]}
    assert ("staging.stg_orders", "amount", "transformation") in down  # a cast
    assert ("console:returns", "amount", "passthrough") in down

    console = await get(client, viewer, f"{path}/console:top_customers")
    assert [c["name"] for c in console["columns"]] == ["customer_name", "revenue"]
    assert console["columns"][1]["upstream"][0]["table"] == "marts.customer_revenue"

    missing = await client.get(f"{path}/customer_revenue", params={"column": "x"}, headers=viewer)
    assert missing.status_code == 404 and "known: " in missing.json()["detail"]
    broken = await client.get(f"{path}/broken", headers=viewer)
    assert (broken.status_code, broken.json()["code"]) == (404, "no_columns")
    assert "syntax error" in broken.json()["detail"]
    not_loaded = await client.get(f"{path}/crm.deals", headers=viewer)
    assert not_loaded.status_code == 404 and "not loaded yet" in not_loaded.json()["detail"]


async def test_lineage_of_sql(client: httpx.AsyncClient, viewer: dict[str, str]) -> None:
    async def post(body: Json) -> httpx.Response:
        return await client.post("/api/lineage", json=body, headers=viewer)

    select = await post({"sql": "SELECT o.id, c.name FROM shop.orders o "
                                "JOIN shop.customers c ON c.id = o.customer_id"})
    assert select.status_code == 200, select.text
    assert select.json() == {
        "statement_type": "select",
        "tables_read": ["shop.customers", "shop.orders"],
        "tables_written": [],
        "columns_used": ["shop.customers.id", "shop.customers.name", "shop.orders.customer_id",
                         "shop.orders.id"],
        "ctes": [],
        "dialect": "duckdb",
    }
    insert = (await post({"sql": "INSERT INTO marts.t (a) SELECT x FROM raw.s",
                          "dialect": "Postgres"})).json()
    assert (insert["statement_type"], insert["tables_written"], insert["tables_read"]) == (
        "insert", ["marts.t"], ["raw.s"]
    )
    assert insert["dialect"] == "postgres"
    cte = (await post({"sql": "WITH recent AS (SELECT * FROM raw_orders.orders) "
                              "SELECT count(*) FROM recent"})).json()
    assert (cte["ctes"], cte["tables_read"]) == (["recent"], ["raw_orders.orders"])

    bad = await post({"sql": "SELECT FROM WHERE ("})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_sql" and "syntax error" in bad.json()["detail"]
    nested = await post({"sql": "SELECT " + "(" * 3000 + "1" + ")" * 3000})
    assert nested.status_code == 400 and "nested too deeply" in nested.json()["detail"]
    two = await post({"sql": "SELECT 1; SELECT 2"})
    assert two.status_code == 400 and "exactly one" in two.json()["detail"]
    dialect = await post({"sql": "SELECT 1", "dialect": "cobol"})
    assert dialect.status_code == 422 and "known: athena" in dialect.json()["detail"]
    extra = await post({"sql": "SELECT 1", "schema": {}})
    assert extra.status_code == 422


async def test_summary_describes_every_table(
    client: httpx.AsyncClient, viewer: dict[str, str], prefect_api: str
) -> None:
    summary = await get(client, viewer, "/api/catalog/summary")
    assert summary["warnings"] == []
    tables = {t["relation"]: t for t in summary["tables"]}
    assert summary["total"] == len(summary["tables"]) == 10
    orders = tables["raw_orders.orders"]
    assert (orders["kind"], orders["sources"], orders["row_count"]) == (
        "raw_table", ["orders"], 50
    )
    # orders expects a sync every hour (`freshness: 1h`) and has never had one
    assert (orders["freshness"], orders["stale"], orders["oldest_sync"]) == (
        "never_synced", None, None
    )
    assert [c["name"] for c in orders["columns"]][:2] == ["order_id", "customer_id"]
    assert set(orders["columns"][0]) == {"name", "type", "description", "pii", "pii_kinds"}
    assert orders["pii"] is False
    customers = tables["raw_customers.customers"]
    assert customers["freshness"] == "unmonitored"  # no `freshness`, no schedule
    email = next(c for c in customers["columns"] if c["name"] == "email")
    assert (email["pii"], email["pii_kinds"], customers["pii"]) == (True, ["declared"], True)
    staged = tables["staging.stg_customers"]  # PII follows column lineage into models
    assert [c["name"] for c in staged["columns"] if c["pii"]] == ["email"]
    revenue = tables["marts.customer_revenue"]
    assert (revenue["sources"], revenue["freshness"], revenue["pii"]) == (
        ["customers", "orders"], "never_synced", False
    )
    assert revenue["materialized"] == "table" and revenue["last_updated"] is not None
    deals = tables["raw_crm.deals"]
    assert (deals["in_warehouse"], deals["sources"], deals["freshness"]) == (False, [], None)


async def test_routes_need_a_key(client: httpx.AsyncClient) -> None:
    for path in ["/api/catalog/models", "/api/catalog/models/x", "/api/catalog/search?q=x",
                 "/api/catalog/lineage", "/api/catalog/lineage/columns/x",
                 "/api/catalog/impact/x", "/api/catalog/summary"]:
        response = await client.get(path)
        assert response.status_code == 401, path
    response = await client.post("/api/lineage", json={"sql": "SELECT 1"})
    assert response.status_code == 401


def test_cli_column_lineage_reaches_consoles(built: Project) -> None:
    args = ["lineage", "orders.orders", "--column", "amount", "--downstream",
            "--project", str(built.file)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "console:returns.amount passthrough" in result.output
    assert "consoles.top_customers.revenue passthrough" in result.output
    args = ["lineage", "top_customers", "--column", "nope", "--project", str(built.file)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "its columns: customer_name, revenue" in result.output
