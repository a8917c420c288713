"""Triggers, runs, sources, dbt and events over real Prefect flow runs of served deployments."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.config import Project
from tests.api.served import serve_project, wait_for_state, with_own_store, write_served_project

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

Bearer = Any


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, prefect_api: str) -> Iterator[Project]:
    """The served project; its runner runs for the whole module."""
    project = write_served_project(tmp_path_factory.mktemp("served"))
    for _ in serve_project(project, prefect_api, project.root / "serve.log"):
        yield project


@pytest.fixture
def api_project(served: Project, tmp_path: Path) -> Project:
    """The app under test reads the served project, with a fresh metadata DB per test."""
    return with_own_store(served, tmp_path)


async def _trigger(
    client: httpx.AsyncClient, headers: dict[str, str], source: str, **body: Any
) -> httpx.Response:
    return await client.post(f"/api/sources/{source}/sync", headers=headers, json=body)


async def test_a_triggered_sync_runs_and_reports_rows_per_table(
    client: httpx.AsyncClient, editor_key: str, viewer_key: str, bearer: Bearer
) -> None:
    editor, viewer = bearer(editor_key), bearer(viewer_key)
    response = await _trigger(client, editor, "orders")
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["deployment"] == "sync_source/sync-orders"
    assert started["replayed"] is False

    run = await wait_for_state(
        client, viewer, started["run_id"], {"completed", "failed", "crashed"}
    )
    assert run["state"] == "completed", run
    assert run["kind"] == "sync" and run["source"] == "orders"
    assert [(t["table"], t["rows"], t["status"]) for t in run["tables"]] == [
        ("orders", 3, "loaded")
    ]
    assert run["duration_seconds"] > 0 and run["end_time"] is not None

    listed = (
        await client.get("/api/runs", params={"kind": "sync", "source": "orders"}, headers=viewer)
    ).json()
    assert started["run_id"] in [item["id"] for item in listed["items"]]
    assert listed["total"] >= 1

    logs = (await client.get(f"/api/runs/{started['run_id']}/logs", headers=viewer)).json()
    assert logs["items"] and logs["total"] >= len(logs["items"])

    sources = {
        s["name"]: s for s in (await client.get("/api/sources", headers=viewer)).json()["items"]
    }
    orders = sources["orders"]
    assert orders["status"] == "synced" and orders["rows"] == 3
    assert orders["tables"] == [{"name": "orders", "rows": 3}]
    assert orders["last_synced_at"] is not None and orders["age_seconds"] >= 0

    detail = (await client.get("/api/sources/orders", headers=viewer)).json()
    assert detail["config"]["type"] == "files"
    assert started["run_id"] in [r["id"] for r in detail["recent_runs"]]


async def test_idempotency_key_conflicts_and_queueing(
    client: httpx.AsyncClient, editor_key: str, bearer: Bearer
) -> None:
    editor = bearer(editor_key)
    key = {"Idempotency-Key": f"nightly-{uuid.uuid4()}"}
    first = await client.post("/api/sources/customers/sync", headers={**editor, **key})
    again = await client.post("/api/sources/customers/sync", headers={**editor, **key})
    assert first.status_code == again.status_code == 202
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["replayed"] is True

    conflict = await _trigger(client, editor, "customers")
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "sync_running"
    assert first.json()["run_id"] in conflict.json()["detail"]

    queued = await _trigger(client, editor, "customers", queue=True)
    assert queued.status_code == 202
    assert queued.json()["run_id"] != first.json()["run_id"]
    for run_id in (first.json()["run_id"], queued.json()["run_id"]):
        run = await wait_for_state(client, editor, run_id, {"completed", "failed", "crashed"})
        assert run["state"] == "completed", run


async def test_cancel_a_run_that_has_not_finished(
    client: httpx.AsyncClient, editor_key: str, bearer: Bearer
) -> None:
    editor = bearer(editor_key)
    run_id = (await _trigger(client, editor, "customers")).json()["run_id"]
    cancel = await client.post(f"/api/runs/{run_id}/cancel", headers=editor)
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["state"] in {"cancelled", "cancelling"}
    await wait_for_state(client, editor, run_id, {"cancelled"}, seconds=90)
    again = await client.post(f"/api/runs/{run_id}/cancel", headers=editor)
    assert again.status_code == 409 and again.json()["code"] == "run_finished"


async def test_several_sources_then_a_dbt_model_with_its_downstream(
    client: httpx.AsyncClient, editor_key: str, bearer: Bearer
) -> None:
    editor = bearer(editor_key)
    response = await client.post(
        "/api/sync/trigger", headers=editor, json={"sources": ["orders", "customers"]}
    )
    assert response.status_code == 202, response.text
    runs = response.json()["runs"]
    assert [run["source"] for run in runs] == ["orders", "customers"]
    for run in runs:
        done = await wait_for_state(
            client, editor, run["run_id"], {"completed", "failed", "crashed"}
        )
        assert done["state"] == "completed", done

    models = (await client.get("/api/dbt/models", headers=editor)).json()
    names = {model["name"] for model in models["items"]}
    assert {"stg_orders", "stg_customers", "customer_revenue"} <= names

    started = await client.post(
        "/api/dbt/models/stg_orders/run", params={"cascade": True}, headers=editor
    )
    assert started.status_code == 202, started.text
    assert started.json()["deployment"] == "dbt_build/dbt-build"
    run = await wait_for_state(
        client, editor, started.json()["run_id"], {"completed", "failed", "crashed"}
    )
    assert run["state"] == "completed", run
    assert run["kind"] == "dbt" and run["parameters"]["select"] == ["stg_orders+"]
    built = {node["name"] for node in run["nodes"] if node["status"] == "success"}
    assert {"stg_orders", "daily_orders"} <= built

    missing = await client.post("/api/dbt/models/no_such_model/run", headers=editor)
    assert missing.status_code == 404 and "stg_orders" in missing.json()["detail"]


async def test_events_stream_run_starts_and_ends_and_resume(
    client: httpx.AsyncClient, editor_key: str, bearer: Bearer
) -> None:
    editor = bearer(editor_key)
    before = datetime.now(UTC)
    run_id = (await _trigger(client, editor, "customers")).json()["run_id"]
    await wait_for_state(client, editor, run_id, {"completed"})

    async def read(last_event_id: str) -> list[dict[str, Any]]:
        response = await client.get(
            "/api/events",
            params={"max_seconds": 3},
            headers={**editor, "Last-Event-ID": last_event_id},
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = []
        for block in response.text.split("\n\n"):
            fields = dict(
                line.split(": ", 1)
                for line in block.splitlines()
                if ": " in line and not line.startswith(":")
            )
            if "data" in fields:
                messages.append({**fields, "data": json.loads(fields["data"])})
        return messages

    # Prefect stores a run's events a moment after its state changes: read until they show.
    wanted = {"run.running", "run.completed", "sync.completed"}
    for _ in range(10):
        messages = [
            m for m in await read(f"{before.isoformat()}~start") if m["data"]["run_id"] == run_id
        ]
        if wanted <= {m["event"] for m in messages}:
            break
    kinds = [m["event"] for m in messages]
    assert "run.running" in kinds and "run.completed" in kinds and "sync.completed" in kinds
    assert kinds.index("run.running") < kinds.index("run.completed")
    running = next(m for m in messages if m["event"] == "run.running")
    assert running["data"]["kind"] == "sync" and running["data"]["source"] == "customers"

    resumed = [m for m in await read(running["id"]) if m["data"]["run_id"] == run_id]
    assert running["id"] not in [m["id"] for m in resumed]
    assert "run.completed" in [m["event"] for m in resumed]

    bad = await client.get("/api/events", headers={**editor, "Last-Event-ID": "nonsense"})
    assert bad.status_code == 400


async def test_refusals_say_what_is_wrong(
    client: httpx.AsyncClient, editor_key: str, viewer_key: str, bearer: Bearer
) -> None:
    editor, viewer = bearer(editor_key), bearer(viewer_key)
    unknown = await _trigger(client, editor, "nope")
    assert unknown.status_code == 404 and "customers, orders" in unknown.json()["detail"]
    table = await _trigger(client, editor, "orders", tables=["orderz"])
    assert table.status_code == 400 and "its tables: orders" in table.json()["detail"]
    extra = await _trigger(client, editor, "orders", full_refrsh=True)
    assert extra.status_code == 422 and "full_refrsh" in extra.json()["detail"]
    assert (await _trigger(client, viewer, "orders")).status_code == 403
    assert (await _trigger(client, viewer, "nope")).status_code == 403  # 403 before 404
    kind = await client.get("/api/runs", params={"kind": "bogus"}, headers=viewer)
    assert kind.status_code == 400 and "sync" in kind.json()["detail"]
    missing = await client.get(f"/api/runs/{uuid.uuid4()}", headers=viewer)
    assert missing.status_code == 404 and missing.json()["code"] == "run_not_found"
    assert (await client.get("/api/runs/not-a-uuid", headers=viewer)).status_code == 422
    paging = await client.get("/api/runs", params={"limit": 101}, headers=viewer)
    assert paging.status_code == 422
