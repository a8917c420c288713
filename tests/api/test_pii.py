"""PII and profiling routes over a real warehouse table, with viewer and editor keys."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from headwater.config import Project
from headwater.governance.pii import scan_table
from tests.conftest import MakeProject

pytestmark = pytest.mark.anyio

Bearer = Any

PROJECT_YML = """
project: {name: api_pii}
sources:
  orders:
    type: files
    tables: {orders: {path: data/orders.csv}}
  crm:
    type: files
    tables: {people: {path: data/people.csv}}
governance:
  pii_overrides:
    - {source: orders, table: orders, column: buyer_phone, pii: false, reason: shop numbers}
    - {model: customers, column: email, pii: false, reason: hashed upstream}
"""


@pytest.fixture
def api_project(make_project: MakeProject) -> Project:
    """Sources orders and crm with PII overrides; raw_orders.orders written and scanned."""
    project = make_project(PROJECT_YML)
    from headwater.warehouse import Warehouse

    with Warehouse(project).writer() as conn:
        conn.execute("CREATE SCHEMA raw_orders")
        conn.execute(
            """
            CREATE TABLE raw_orders.orders AS
            SELECT i AS order_id, 'buyer' || i || '@example.com' AS buyer,
                   '+44 20 7946 ' || lpad(CAST(i AS VARCHAR), 4, '0') AS buyer_phone,
                   CASE WHEN i <= 6 THEN 'placed' ELSE 'returned' END AS status
            FROM range(1, 9) t(i)
            """
        )
    scan_table(project, "orders", "orders", notify=False)
    return project


async def test_pii_lists_findings_with_overrides_and_filters(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    response = await client.get("/api/governance/pii", headers=bearer(viewer_key))
    assert response.status_code == 200, response.text
    page = response.json()
    items = {(i["relation"], i["column"]): i for i in page["items"]}
    assert set(items) == {
        ("raw_orders.orders", "buyer"),
        ("raw_orders.orders", "buyer_phone"),
        ("customers", "email"),  # a model override of a model not built yet
    }
    buyer = items[("raw_orders.orders", "buyer")]
    assert buyer["pii"] and buyer["kinds"] == ["email"] and buyer["source"] == "orders"
    assert buyer["share"] == 1.0 and buyer["sample_size"] == 8 and buyer["new"]
    assert buyer["table"] == "orders" and not buyer["overridden"]
    [finding] = buyer["findings"]
    assert finding["masked_example"] == "b***@e***.com" and finding["evidence"] == ["values"]
    phone = items[("raw_orders.orders", "buyer_phone")]
    assert phone["kinds"] == ["phone"] and phone["overridden"] and not phone["pii"]
    assert phone["override_reason"] == "shop numbers" and not phone["new"]

    not_pii = await client.get("/api/governance/pii?pii=false", headers=bearer(viewer_key))
    assert {i["column"] for i in not_pii.json()["items"]} == {"buyer_phone", "email"}
    by_source = await client.get("/api/governance/pii?source=crm", headers=bearer(viewer_key))
    assert by_source.json() == {"items": [], "total": 0}
    by_table = await client.get("/api/governance/pii?table=orders&limit=1",
                                headers=bearer(viewer_key))  # fmt: skip
    assert by_table.json()["total"] == 2 and len(by_table.json()["items"]) == 1
    unknown = await client.get("/api/governance/pii?source=ordrs", headers=bearer(viewer_key))
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "no source 'ordrs'; known: crm, orders",
                              "code": "source_not_found"}  # fmt: skip

    overrides = await client.get("/api/governance/pii/overrides", headers=bearer(viewer_key))
    assert overrides.status_code == 200
    assert overrides.json()["total"] == 2
    assert overrides.json()["items"][0] == {
        "source": "orders", "table": "orders", "model": None, "column": "buyer_phone",
        "pii": False, "reason": "shop numbers",
    }  # fmt: skip


async def test_columns_and_profile(
    client: httpx.AsyncClient, viewer_key: str, editor_key: str, bearer: Bearer
) -> None:
    url = "/api/catalog/orders/orders"
    before = await client.get(f"{url}/columns", headers=bearer(viewer_key))
    assert before.status_code == 200, before.text
    body = before.json()
    assert body["relation"] == "raw_orders.orders" and body["profiled_at"] is None
    columns = {c["name"]: c for c in body["columns"]}
    assert list(columns) == ["order_id", "buyer", "buyer_phone", "status"]
    assert columns["order_id"]["type"] == "BIGINT" and columns["order_id"]["profile"] is None
    assert columns["buyer"]["pii"] and columns["buyer"]["pii_kinds"] == ["email"]
    assert not columns["buyer_phone"]["pii"] and columns["buyer_phone"]["pii_kinds"] == []

    refused = await client.post(f"{url}/profile", headers=bearer(viewer_key))
    assert refused.status_code == 403
    profiled = await client.post(f"{url}/profile", headers=bearer(editor_key))
    assert profiled.status_code == 200, profiled.text
    result = profiled.json()
    assert result["row_count"] == 8
    status = next(c for c in result["columns"] if c["name"] == "status")
    assert status["top_values"] == [{"value": "placed", "count": 6},
                                    {"value": "returned", "count": 2}]  # fmt: skip
    assert status["distinct_count"] == 2 and status["null_share"] == 0.0
    order_id = next(c for c in result["columns"] if c["name"] == "order_id")
    assert (order_id["min"], order_id["max"], order_id["mean"]) == (1, 8, 4.5)
    buyer = next(c for c in result["columns"] if c["name"] == "buyer")
    assert buyer["masked"] and buyer["min"] == "b***@e***.com"
    # Declared not PII: shown as is.
    phone = next(c for c in result["columns"] if c["name"] == "buyer_phone")
    assert not phone["masked"] and phone["min"] == "+44 20 7946 0001"

    after = (await client.get(f"{url}/columns", headers=bearer(viewer_key))).json()
    assert after["row_count"] == 8 and after["profiled_at"] is not None
    stored = {c["name"]: c["profile"] for c in after["columns"]}
    assert stored["status"]["top_values"][0] == {"value": "placed", "count": 6}
    assert stored["buyer"]["masked"]


async def test_unknown_sources_and_tables_answer_404(
    client: httpx.AsyncClient, viewer_key: str, editor_key: str, bearer: Bearer
) -> None:
    no_source = await client.get("/api/catalog/shop/orders/columns", headers=bearer(viewer_key))
    assert no_source.status_code == 404
    assert no_source.json() == {"detail": "no source 'shop'; known: crm, orders",
                                "code": "source_not_found"}  # fmt: skip
    no_table = await client.post("/api/catalog/orders/order/profile", headers=bearer(editor_key))
    assert no_table.status_code == 404
    assert no_table.json() == {"detail": "source 'orders' has no table 'order'; known: orders",
                               "code": "table_not_found"}  # fmt: skip
    never_synced = await client.get("/api/catalog/crm/people/columns", headers=bearer(viewer_key))
    assert never_synced.status_code == 404 and "known: none (sync" in never_synced.json()["detail"]
    # The catalog's fixed paths are not taken for a source called `lineage`.
    lineage = await client.get("/api/catalog/lineage/columns/columns",
                               headers=bearer(viewer_key))  # fmt: skip
    assert "no source 'lineage'" not in lineage.text
