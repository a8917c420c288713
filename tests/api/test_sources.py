"""Sources, health and the error body, over the real warehouse and Prefect (no runs)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from headwater.warehouse import Warehouse

pytestmark = pytest.mark.anyio

Bearer = Any


async def test_sources_list_never_synced_sources_with_their_tables(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer, prefect_api: str, app: Any
) -> None:
    warehouse: Warehouse = app.state.context.warehouse
    with warehouse.writer() as conn:
        conn.execute("CREATE SCHEMA raw_orders")
        conn.execute("CREATE TABLE raw_orders.orders AS SELECT range AS order_id FROM range(5)")
    response = await client.get("/api/sources", headers=bearer(viewer_key))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 1
    [orders] = page["items"]
    assert orders["name"] == "orders" and orders["type"] == "files"
    assert orders["status"] == "never synced" and orders["last_run"] is None
    assert orders["rows"] == 5 and orders["tables"] == [{"name": "orders", "rows": 5}]

    detail = (await client.get("/api/sources/orders", headers=bearer(viewer_key))).json()
    assert detail["config"]["tables"]["orders"]["path"] == "data/orders.csv"
    assert detail["recent_runs"] == []

    missing = await client.get("/api/sources/ordrs", headers=bearer(viewer_key))
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "no source 'ordrs'; known: orders",
        "code": "source_not_found",
    }


async def test_source_check_reports_success_and_failure(
    client: httpx.AsyncClient, editor_key: str, bearer: Bearer, app: Any
) -> None:
    ok = await client.post("/api/sources/orders/test", headers=bearer(editor_key))
    assert ok.status_code == 200, ok.text
    assert ok.json()["ok"] is True and ok.json()["tables"] == ["orders"]

    (app.state.context.project.root / "data" / "orders.csv").unlink()
    failed = (await client.post("/api/sources/orders/test", headers=bearer(editor_key))).json()
    assert failed["ok"] is False and "orders.csv" in failed["error"]


async def test_health_is_public_and_platform_health_reports_the_parts(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer, prefect_api: str
) -> None:
    health = await client.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"

    platform = (await client.get("/api/health/platform", headers=bearer(viewer_key))).json()
    assert platform["warehouse"]["reachable"] is True
    assert platform["prefect_reachable"] is True and platform["prefect_url"] == prefect_api
    assert platform["disk_free_bytes"] > 0
    assert isinstance(platform["recent_failures"], list)


async def test_unexpected_errors_never_leak_a_traceback(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer, app: Any
) -> None:
    # A warehouse catalog that is not a database: the route fails inside DuckDB.
    catalog = app.state.context.warehouse.catalog_path
    catalog.parent.mkdir(parents=True, exist_ok=True)
    catalog.write_text("not a sqlite file")
    response = await client.get("/api/sources", headers=bearer(viewer_key))
    assert response.status_code in (500, 503)
    body = response.json()
    assert set(body) == {"detail", "code"}
    assert "Traceback" not in body["detail"]


async def test_api_rate_limit_answers_429_with_retry_after(make_project: Any) -> None:
    from tests.api.conftest import api_client, create_key, running_app, set_up_admin

    project = make_project(
        """
        project: {name: limited}
        api: {rate_limit_per_minute: 3}
        """
    )
    async with running_app(project) as app, api_client(app) as http:
        await set_up_admin(http)
        key = await create_key(http)
        http.cookies.clear()
        answers = [
            await http.get("/api/health/platform", headers={"Authorization": f"Bearer {key}"})
            for _ in range(4)
        ]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    limited = answers[-1]
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


async def test_oversized_bodies_are_refused_before_they_are_read(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    huge = "x" * (2 * 1024 * 1024)
    declared = await client.post("/api/query", content=huge, headers=bearer(viewer_key))
    assert declared.status_code == 413
    assert declared.json()["code"] == "too_large"

    async def chunks() -> Any:
        for _ in range(40):
            yield b"y" * 64 * 1024

    streamed = await client.post("/api/query", content=chunks(), headers=bearer(viewer_key))
    assert streamed.status_code == 413
