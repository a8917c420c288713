"""`/api/consoles` and `/api/scheduled-consoles` over a real warehouse, metadata DB and
Prefect server: reads for viewers, runs and schedule changes for editors."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.config import Project
from headwater.consoles import execute_console, record_finish, record_start
from headwater.runs import CONSOLE_DEPLOYMENT, prefect_request
from headwater.store import MetadataStore
from tests.api.conftest import deployment_absent
from tests.consoles.shop import REVENUE_SQL, write_shop

pytestmark = pytest.mark.anyio

Bearer = Any


@pytest.fixture
def api_project(tmp_path: Path) -> Project:
    """The shop project, with one successful run of `revenue` and a failed one of `unsafe`
    in its history."""
    project = write_shop(tmp_path / "shop", f"api_consoles_{uuid.uuid4().hex[:6]}")
    store = MetadataStore.open(project)
    try:
        for console in ("revenue", "unsafe"):
            run_id = record_start(store, console, None)
            record_finish(store, run_id, execute_console(project, console))
    finally:
        store.close()
    return project


async def test_viewers_read_consoles_their_sql_history_and_first_rows(
    client: httpx.AsyncClient, viewer_key: str, bearer: Bearer, api_project: Project
) -> None:
    viewer = bearer(viewer_key)
    page = (await client.get("/api/consoles", headers=viewer)).json()
    assert page["total"] == 5
    consoles = {item["name"]: item for item in page["items"]}
    assert list(consoles) == ["lost", "orders_csv", "revenue", "twice", "unsafe"]
    revenue = consoles["revenue"]
    assert revenue["schedule"]["cron"] == "0 7 * * *"
    assert revenue["schedule"]["description"] == "cron 0 7 * * * (Europe/Lisbon)"
    assert revenue["schedule"]["next_run_at"] is not None
    assert (revenue["table"], revenue["export"]) == (
        "consoles.revenue", {"path": "exports/revenue.parquet", "format": "parquet"}
    )
    assert revenue["last_run"]["status"] == "succeeded"
    assert revenue["last_run"]["row_count"] == 2
    assert consoles["unsafe"]["last_run"]["status"] == "failed"
    assert "only read statements" in consoles["unsafe"]["last_run"]["error"]
    assert consoles["orders_csv"]["last_run"] is None

    detail = (await client.get("/api/consoles/revenue", headers=viewer)).json()
    assert detail["sql"] == REVENUE_SQL and detail["file"] == "consoles/revenue.sql"
    assert detail["reads"] == ["raw_shop.orders"]
    assert [c["name"] for c in detail["columns"]] == ["customer", "revenue", "orders"]
    assert detail["rows"] == [["ada", 17.75, 2], ["bob", 20.0, 1]]
    assert detail["assertions"] == {
        "min_rows": 1, "not_null": ["customer"], "expression": "revenue >= 0"
    }

    lost = (await client.get("/api/consoles/lost", headers=viewer)).json()
    assert lost["sql"] is None and "missing.sql does not exist" in lost["sql_error"]
    assert lost["rows"] == [] and lost["last_run"] is None

    runs = (await client.get("/api/consoles/unsafe/runs", headers=viewer)).json()
    assert runs["total"] == 1
    [run] = runs["items"]
    assert run["status"] == "failed" and run["row_count"] is None and run["assertions"] == []

    missing = await client.get("/api/consoles/revnue", headers=viewer)
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "no console 'revnue'; known: lost, orders_csv, revenue, twice, unsafe",
        "code": "console_not_found",
    }
    scheduled = (await client.get("/api/scheduled-consoles", headers=viewer)).json()
    assert [item["name"] for item in scheduled["items"]] == ["revenue"]
    assert scheduled["items"][0]["next_run_at"] == revenue["schedule"]["next_run_at"]

    for method, path in (("post", "/api/consoles/revenue/run"),
                         ("put", "/api/consoles/revenue/schedule"),
                         ("delete", "/api/consoles/revenue/schedule")):
        body = {"interval": "1h"}
        refused = await client.request(method.upper(), path, headers=viewer, json=body)
        assert refused.status_code == 403, (path, refused.text)


@pytest.fixture
def no_console_deployment(prefect_api: str) -> Iterator[str]:
    """No `run_console/run-console` deployment on the server before and after the test."""
    with deployment_absent(prefect_api, f"run_console/{CONSOLE_DEPLOYMENT}") as api:
        yield api


async def test_editors_start_runs_of_the_run_console_deployment(
    client: httpx.AsyncClient,
    editor_key: str,
    bearer: Bearer,
    api_project: Project,
    no_console_deployment: str,
) -> None:
    from flows.consoles import run_console

    editor = bearer(editor_key)
    unserved = await client.post("/api/consoles/revenue/run", headers=editor)
    assert unserved.status_code == 503 and unserved.json()["code"] == "not_served"

    deployment = await run_console.ato_deployment(
        name=CONSOLE_DEPLOYMENT, parameters={"project_file": str(api_project.file)}
    )
    await deployment.aapply()
    headers = {**editor, "Idempotency-Key": "console-test-1"}
    started = await client.post("/api/consoles/revenue/run", headers=headers)
    assert started.status_code == 202, started.text
    body = started.json()
    assert body["deployment"] == f"run_console/{CONSOLE_DEPLOYMENT}"
    assert body["replayed"] is False
    run = prefect_request(no_console_deployment, f"/flow_runs/{body['run_id']}")
    assert run["parameters"] == {"console": "revenue", "project_file": str(api_project.file)}
    again = (await client.post("/api/consoles/revenue/run", headers=headers)).json()
    assert (again["run_id"], again["replayed"]) == (body["run_id"], True)
    # No runner serves it here: remove the run so no later runner picks it up.
    prefect_request(no_console_deployment, f"/flow_runs/{body['run_id']}", method="DELETE")

    unknown = await client.post("/api/consoles/nope/run", headers=editor)
    assert unknown.status_code == 404 and "known: lost, orders_csv" in unknown.json()["detail"]


async def test_schedule_changes_write_project_yml_back_and_are_audited(
    client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    editor_key: str,
    bearer: Bearer,
    api_project: Project,
    prefect_api: str,
) -> None:
    editor = bearer(editor_key)
    original = api_project.file.read_text()
    path = "/api/consoles/revenue/schedule"

    for body, field in (
        ({"cron": "every morning"}, "body.cron"),
        ({"interval": "10s"}, "body.interval"),
        ({"cron": "0 7 * * *", "interval": "1h"}, "exactly one of `cron`"),
        ({"interval": "1h", "enabeld": False}, "body.enabeld"),
        ({"cron": "0 7 * * *", "timezone": "Mars/Olympus"}, "body.timezone"),
    ):
        refused = await client.put(path, headers=editor, json=body)
        assert refused.status_code == 422, refused.text
        assert field in refused.json()["detail"]
    assert api_project.file.read_text() == original

    changed = await client.put(path, headers=editor, json={"interval": "2h", "enabled": False})
    assert changed.status_code == 200, changed.text
    answer = changed.json()
    assert answer["console"]["schedule"]["interval"] == "2h"
    assert answer["console"]["schedule"]["enabled"] is False
    assert answer["applied"] is False and "not applied yet" in answer["message"]
    text = api_project.file.read_text()
    # Only the schedule's line changed, and its comment stayed.
    lines, before = text.splitlines(), original.splitlines()
    assert len(lines) == len(before)
    [changed_line] = [line for line, old in zip(lines, before, strict=True) if line != old]
    assert changed_line.split("#")[0].rstrip() == "    schedule: {interval: 2h, enabled: false}"
    assert changed_line.endswith("# before the stand-up")
    listed = (await client.get("/api/consoles/revenue", headers=editor)).json()
    assert listed["schedule"]["description"] == "every 2h (disabled)"
    assert listed["schedule"]["next_run_at"] is None

    removed = await client.delete(path, headers=editor)
    assert removed.status_code == 200 and removed.json()["console"]["schedule"] is None
    assert "schedule:" not in api_project.file.read_text().split("orders_csv")[0]
    assert (await client.get("/api/scheduled-consoles", headers=editor)).json()["total"] == 0

    # A project.yml broken by hand meanwhile is not rewritten: the answer names its problem.
    broken_text = original.replace("min_rows: 1", "min_rows: -1")
    api_project.file.write_text(broken_text)
    broken = await client.put(path, headers=editor, json={"interval": "1h"})
    assert broken.status_code == 409 and broken.json()["code"] == "project_invalid"
    assert "min_rows: must be at least 0" in broken.json()["detail"]
    assert api_project.file.read_text() == broken_text

    audit = (await admin_client.get("/api/admin/audit", params={"action": "schedule"})).json()
    entries = [(e["action"], e["status_code"], e["detail"]) for e in audit["items"]]
    assert entries[:3] == [
        ("PUT /api/consoles/{name}/schedule", 409, None),
        ("DELETE /api/consoles/{name}/schedule", 200, "console revenue schedule: removed"),
        ("PUT /api/consoles/{name}/schedule", 200,
         "console revenue schedule: every 2h (disabled)"),
    ]
