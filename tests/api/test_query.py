"""`POST /api/query` and `/api/query/export` through the real app, metadata DB and warehouse."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from headwater.config import Project
from headwater.query import MAX_SQL_BYTES
from tests.query.conftest import SECRET, Shop, make_shop, state
from tests.query.hostile import HOSTILE, render
from tests.query.test_export import read_back

# Marked here, at collection, as well: the marker that tests/api/conftest.py adds after
# collection loses the parameters of parametrized async tests.
pytestmark = pytest.mark.anyio

Bearer = Callable[[str], dict[str, str]]

API_YAML = """
api:
  query_timeout_seconds: 1
"""
"""A short time limit, so the timeout test returns quickly."""

SLOW = "SELECT count(*) FROM range(1000000000) a, range(1000000000) b WHERE a.range * b.range = -1"


@pytest.fixture
def api_shop(tmp_path: Path) -> Iterator[Shop]:
    """The app's project: `raw_shop.orders` (3 rows) in its warehouse, files beside it."""
    shop = make_shop(tmp_path / "shop", API_YAML)
    yield shop
    shop.observer.close()


@pytest.fixture
def api_project(api_shop: Shop) -> Project:
    """Overrides tests/api/conftest.py's project: the app serves the shop's warehouse."""
    return api_shop.warehouse.project


async def post_query(
    client: httpx.AsyncClient, headers: dict[str, str], sql: str
) -> httpx.Response:
    """POST /api/query."""
    return await client.post("/api/query", json={"sql": sql}, headers=headers)


async def test_a_viewer_runs_a_query(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    sql = "SELECT order_id, customer, amount FROM raw_shop.orders ORDER BY order_id"
    response = await post_query(client, bearer(viewer_key), sql)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == [
        {"name": "order_id", "type": "INTEGER"},
        {"name": "customer", "type": "VARCHAR"},
        {"name": "amount", "type": "DECIMAL(10,2)"},
    ]
    assert body["rows"] == [[1, "ada", 10.5], [2, "bob", 20.0], [3, "cy", 7.25]]
    assert body["row_count"] == 3
    assert body["truncated"] is False
    assert body["elapsed_ms"] > 0


async def test_queries_need_credentials(client: httpx.AsyncClient) -> None:
    response = await post_query(client, {}, "SELECT 1")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


async def test_hostile_queries_are_refused_with_nothing_read_or_changed(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer, api_shop: Shop
) -> None:
    # One request per entry of the shared table (tests/query/hostile.py); the core tests
    # run the same table as separate parametrized tests.
    before = state(api_shop)
    wrong: list[str] = []
    for name, template in HOSTILE:
        response = await post_query(client, bearer(viewer_key), render(template, api_shop.paths))
        body = response.json()
        refused = response.status_code == 400 and body["code"] in ("unsafe_query", "invalid_sql")
        if not refused or not body["detail"] or SECRET in response.text:
            wrong.append(f"{name}: {response.status_code} {response.text[:200]}")
        if state(api_shop) != before:
            wrong.append(f"{name}: changed the warehouse or the files")
    assert wrong == []
    assert not api_shop.canary.exists()


async def test_refusals_name_the_reason(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    response = await post_query(client, bearer(viewer_key), "SELECT * FROM read_csv('/etc/x')")
    assert response.status_code == 400
    assert response.json()["code"] == "unsafe_query"
    assert "read_csv() is not allowed" in response.json()["detail"]
    response = await post_query(client, bearer(viewer_key), "SELEC 1 FROM")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_sql"
    assert "does not parse" in response.json()["detail"]


async def test_results_are_capped_at_10000_rows(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    response = await post_query(client, bearer(viewer_key), "SELECT * FROM range(20000)")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["row_count"] == 10_000 == len(body["rows"])
    assert body["truncated"] is True


async def test_a_long_query_is_interrupted(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    started = time.monotonic()
    response = await post_query(client, bearer(viewer_key), SLOW)
    assert time.monotonic() - started < 5
    assert response.status_code == 400
    assert response.json()["code"] == "query_timeout"
    assert "longer than 1 s" in response.json()["detail"]


async def test_sql_over_100_kb_gets_413(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    response = await post_query(client, bearer(viewer_key), "SELECT 1" + " " * MAX_SQL_BYTES)
    assert response.status_code == 413
    assert response.json()["code"] == "query_too_large"


async def test_failures_and_bad_bodies(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    response = await post_query(client, bearer(viewer_key), "SELECT * FROM raw_shop.nope")
    assert response.status_code == 400
    assert response.json()["code"] == "query_failed"
    assert "nope" in response.json()["detail"]
    response = await client.post(
        "/api/query", json={"sql": "SELECT 1", "limit": 5}, headers=bearer(viewer_key)
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("fmt", "media_type", "extension"),
    [
        ("csv", "text/csv", ".csv"),
        ("parquet", "application/vnd.apache.parquet", ".parquet"),
        ("ndjson", "application/x-ndjson", ".ndjson"),
        ("arrow", "application/vnd.apache.arrow.stream", ".arrows"),
    ],
)
async def test_exports_stream_files_that_parse_back(
    client: httpx.AsyncClient,
    viewer_key: str,
    bearer: Bearer,
    fmt: str,
    media_type: str,
    extension: str,
) -> None:
    sql = "SELECT order_id, customer, amount FROM raw_shop.orders ORDER BY order_id"
    response = await client.post(
        "/api/query/export", json={"sql": sql, "format": fmt}, headers=bearer(viewer_key)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media_type)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="query-')
    assert disposition.endswith(f'{extension}"')
    table = read_back(fmt, response.content)
    assert table.column("order_id").to_pylist() == [1, 2, 3]
    assert table.column("customer").to_pylist() == ["ada", "bob", "cy"]
    assert [float(value) for value in table.column("amount").to_pylist()] == [10.5, 20.0, 7.25]


async def test_a_large_export_streams_every_row(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer
) -> None:
    body = {"sql": "SELECT range AS i FROM range(250000)", "format": "arrow"}
    async with client.stream(
        "POST", "/api/query/export", json=body, headers=bearer(viewer_key)
    ) as response:
        assert response.status_code == 200
        data = b"".join([chunk async for chunk in response.aiter_raw()])
    # httpx's ASGI transport gathers the body, so chunking itself is tested in tests/query.
    assert read_back("arrow", data).num_rows == 250_000


async def test_exports_are_checked_like_queries(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer, api_shop: Shop
) -> None:
    before = state(api_shop)
    for sql in (
        f"COPY raw_shop.orders TO '{api_shop.canary}'",
        f"SELECT * FROM read_text('{api_shop.secret}')",
    ):
        response = await client.post(
            "/api/query/export", json={"sql": sql, "format": "csv"}, headers=bearer(viewer_key)
        )
        assert response.status_code == 400
        assert response.json()["code"] == "unsafe_query"
        assert SECRET not in response.text
    response = await client.post(
        "/api/query/export", json={"sql": SLOW, "format": "parquet"}, headers=bearer(viewer_key)
    )
    assert response.json()["code"] == "query_timeout"
    response = await client.post(
        "/api/query/export", json={"sql": "SELECT 1", "format": "xlsx"}, headers=bearer(viewer_key)
    )
    assert response.status_code == 422
    assert state(api_shop) == before


async def test_openapi_documents_the_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/api/query", "/api/query/export"):
        operation = paths[path]["post"]
        assert operation["x-permission"] == "query.execute"
        assert "read-only" in operation["description"]
        assert "413" in operation["responses"]
    export_types = paths["/api/query/export"]["post"]["responses"]["200"]["content"]
    assert {"text/csv", "application/vnd.apache.parquet"} <= set(export_types)
    answer = paths["/api/query"]["post"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/QueryOut")
    assert json.dumps(paths["/api/query"]["post"]["requestBody"])
