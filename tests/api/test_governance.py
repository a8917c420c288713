"""`/api/governance` (drift, accept, attention, freshness) and `/api/monitoring` with viewer
and editor keys, against the real metadata DB and Prefect server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from headwater.config import Project
from headwater.governance.drift import check_drift
from headwater.governance.monitoring import (
    MONITORING_DEPLOYMENT,
    MONITORING_FLOW,
    CheckResult,
    save_run,
)
from headwater.runs import prefect_request
from headwater.store import MetadataStore, list_audit
from tests.api.conftest import deployment_absent

pytestmark = pytest.mark.anyio

Bearer = Callable[[str], dict[str, str]]


def seed_drift(project: Project, store: MetadataStore) -> None:
    """orders.orders: a baseline, an additive change, then a breaking one."""
    check_drift(project, store, "orders", {"orders": {"order_id": "bigint", "amount": "double"}})
    check_drift(project, store, "orders",
                {"orders": {"order_id": "bigint", "amount": "double", "note": "text"}})
    check_drift(project, store, "orders", {"orders": {"order_id": "text", "note": "text"}})


async def test_viewers_read_drift_and_editors_accept_it_audited(
    app: FastAPI,
    client: httpx.AsyncClient,
    api_project: Project,
    viewer_key: str,
    editor_key: str,
    bearer: Bearer,
) -> None:
    store: MetadataStore = app.state.context.store
    seed_drift(api_project, store)
    viewer, editor = bearer(viewer_key), bearer(editor_key)

    page = (await client.get("/api/governance/schema-drift", headers=viewer)).json()
    assert page["total"] == 2
    breaking, additive = page["items"]
    assert breaking["breaking"] and breaking["accepted_at"] is None
    assert breaking["changes"] == [
        {"column": "order_id", "change": "type_changed", "old_type": "bigint",
         "new_type": "text"},
        {"column": "amount", "change": "removed", "old_type": "double", "new_type": None},
    ]
    assert not additive["breaking"] and additive["accepted_by"] == "automatic"
    paged = await client.get("/api/governance/schema-drift?source=orders&table=orders&limit=1",
                             headers=viewer)
    assert paged.json()["total"] == 2 and [e["id"] for e in paged.json()["items"]] == [
        breaking["id"]
    ]
    other = await client.get("/api/governance/schema-drift?table=nothing", headers=viewer)
    assert other.json() == {"items": [], "total": 0}

    refused = await client.post("/api/governance/drift/orders/accept", headers=viewer)
    assert refused.status_code == 403
    unknown = await client.post("/api/governance/drift/nope/accept", headers=editor)
    assert unknown.status_code == 404 and unknown.json()["code"] == "source_not_found"
    no_table = await client.post("/api/governance/drift/orders/accept", headers=editor,
                                 json={"table": "refunds"})
    assert no_table.status_code == 404 and "orders" in no_table.json()["detail"]
    typo = await client.post("/api/governance/drift/orders/accept", headers=editor,
                             json={"tabel": "orders"})
    assert typo.status_code == 422

    accepted = await client.post("/api/governance/drift/orders/accept", headers=editor,
                                 json={"table": "orders"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {"source": "orders", "tables": ["orders"], "accepted_events": 1}
    after = (await client.get("/api/governance/schema-drift", headers=viewer)).json()
    assert after["items"][0]["accepted_by"] == "editor@example.com"

    with store.session() as session:
        entries, _ = list_audit(session, action="/api/governance/drift/{source}/accept")
        done = [(e.user_email, e.status_code, e.detail) for e in entries if e.status_code == 200]
    assert done == [("editor@example.com", 200,
                     "accepted 1 drift events of orders; baseline set for orders")]


async def test_attention_and_freshness_for_viewers(
    app: FastAPI,
    client: httpx.AsyncClient,
    api_project: Project,
    viewer_key: str,
    bearer: Bearer,
    prefect_api: str,
) -> None:
    seed_drift(api_project, app.state.context.store)
    viewer = bearer(viewer_key)
    response = await client.get("/api/governance/attention", headers=viewer)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 1 and body["not_checked"] == {}
    [reason] = body["items"][0]["reasons"]
    assert body["items"][0]["source"] == "orders" and reason["kind"] == "breaking_drift"
    assert reason["details"]["tables"] == ["orders"]

    fresh = (await client.get("/api/governance/freshness", headers=viewer)).json()
    assert fresh["items"] == [{
        "source": "orders", "state": "unmonitored", "stale": False, "last_success_at": None,
        "threshold_seconds": None, "threshold_from": None,
        "reason": "no `freshness` setting and no enabled schedule syncs it: not monitored",
    }]


@pytest.fixture
def no_monitoring_deployment(prefect_api: str) -> Iterator[str]:
    """No `run_monitoring/monitoring` deployment on the server before and after the test."""
    with deployment_absent(prefect_api, f"{MONITORING_FLOW}/{MONITORING_DEPLOYMENT}") as api:
        yield api


async def test_monitoring_results_and_runs(
    app: FastAPI,
    client: httpx.AsyncClient,
    api_project: Project,
    viewer_key: str,
    editor_key: str,
    bearer: Bearer,
    no_monitoring_deployment: str,
) -> None:
    viewer, editor = bearer(viewer_key), bearer(editor_key)
    empty = (await client.get("/api/monitoring", headers=viewer)).json()
    assert empty == {"ran_at": None, "run_id": None, "warnings": 0, "results": []}

    save_run(app.state.context.store, [
        CheckResult("reconciliation", "orders", "orders", "warning", "source 3, warehouse 2",
                    {"source_rows": 3, "warehouse_rows": 2}),
        CheckResult("freshness", "orders", None, "skipped", "not monitored"),
    ], datetime.now(UTC), "run-123")
    latest = (await client.get("/api/monitoring", headers=viewer)).json()
    assert latest["run_id"] == "run-123" and latest["warnings"] == 1
    assert [r["check"] for r in latest["results"]] == ["reconciliation", "freshness"]
    warned = (await client.get("/api/monitoring?status=warning", headers=viewer)).json()
    assert [r["details"] for r in warned["results"]] == [{"source_rows": 3, "warehouse_rows": 2}]
    bad = await client.get("/api/monitoring?check=vibes", headers=viewer)
    assert bad.status_code == 422

    assert (await client.post("/api/monitoring/run", headers=viewer)).status_code == 403
    unserved = await client.post("/api/monitoring/run", headers=editor)
    assert unserved.status_code == 503 and unserved.json()["code"] == "not_served"

    from flows.monitoring import run_monitoring

    deployment = await run_monitoring.ato_deployment(
        name=MONITORING_DEPLOYMENT, parameters={"project_file": str(api_project.file)}
    )
    await deployment.aapply()  # registered, not served: the run stays scheduled
    started = await client.post("/api/monitoring/run", headers=editor)
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["deployment"] == f"{MONITORING_FLOW}/{MONITORING_DEPLOYMENT}"
    run = prefect_request(no_monitoring_deployment, f"/flow_runs/{body['run_id']}")
    assert run["parameters"] == {"project_file": str(api_project.file)}
    assert "project:api_test" in run["tags"]
    prefect_request(no_monitoring_deployment, f"/flow_runs/{body['run_id']}", method="DELETE")
