"""`/api/schedules` and `/api/sources/unscheduled` against the session's real Prefect
server; one test serves the project with a real `headwater serve` runner."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from headwater.config import Project
from headwater.runs import prefect_request, project_tag, source_tag
from headwater.warehouse import Warehouse
from tests.api.served import start_serve, wait_for_state
from tests.schedules.conftest import (
    finished_run,
    register_schedules_deployment,
    server_schedules,
    write_project,
)

pytestmark = pytest.mark.anyio

Bearer = Callable[[str], dict[str, str]]

BODY = """
sources:
  {src}:
    type: files
    tables:
      items: {{path: items.csv}}
  loose:
    type: files
    tables:
      items: {{path: items.csv}}
  off:
    type: files
    enabled: false
    tables:
      items: {{path: items.csv}}
schedules:
  every_hour: {{sources: [{src}], interval: 1h, description: Hourly sync}}
  nightly_models:
    dbt: {{select: marts, exclude: tag:slow}}
    cron: "0 2 * * *"
    timezone: Europe/Lisbon
  paused: {{sources: [loose], interval: 2h, enabled: false}}
"""


@pytest.fixture
def api_project(tmp_path: Path) -> Project:
    """A project with schedules (a unique name: its own schedules deployment, and a
    unique source: its own sync deployment)."""
    return write_project(tmp_path, BODY.format(src=f"s{uuid.uuid4().hex[:8]}"))


async def _register(project: Project) -> dict[str, Any]:
    """`register_schedules_deployment` off the event loop (Prefect would go async in it)."""
    return await anyio.to_thread.run_sync(register_schedules_deployment, project)


def _source(project: Project) -> str:
    return next(name for name in project.config.sources if name not in {"loose", "off"})


async def test_schedules_are_listed_with_their_state_and_viewers_only_read(
    client: httpx.AsyncClient,
    api_project: Project,
    prefect_api: str,
    admin_key: str,
    editor_key: str,
    viewer_key: str,
    bearer: Bearer,
) -> None:
    admin, editor, viewer = bearer(admin_key), bearer(editor_key), bearer(viewer_key)
    # Not registered yet: reload says how to get there.
    response = await client.post("/api/schedules/reload", headers=admin)
    assert response.status_code == 503 and response.json()["code"] == "not_served"
    assert "headwater serve" in response.json()["detail"]

    await _register(api_project)
    assert (await client.post("/api/schedules/reload", headers=viewer)).status_code == 403
    assert (await client.post("/api/schedules/reload", headers=editor)).status_code == 403
    response = await client.post("/api/schedules/reload", headers=admin)
    assert response.status_code == 200, response.text
    assert sorted(response.json()["added"]) == ["every_hour", "nightly_models", "paused"]

    response = await client.get("/api/schedules", headers=viewer)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == 3
    by_name = {item["name"]: item for item in page["items"]}
    hourly = by_name["every_hour"]
    assert (hourly["kind"], hourly["sources"], hourly["interval"]) == (
        "sync",
        [_source(api_project)],
        "1h",
    )
    assert hourly["applied"] and hourly["enabled"] and hourly["next_run_time"]
    assert hourly["last_run"] is None and hourly["warning"] is None
    models = by_name["nightly_models"]
    assert models["dbt"] == {"select": "marts", "exclude": "tag:slow", "full_refresh": False}
    assert (models["cron"], models["timezone"]) == ("0 2 * * *", "Europe/Lisbon")
    assert models["target"] == "dbt build --select marts --exclude tag:slow"
    assert by_name["paused"]["next_run_time"] is None and not by_name["paused"]["enabled"]

    one = await client.get("/api/schedules/nightly_models", headers=viewer)
    assert one.status_code == 200 and one.json()["name"] == "nightly_models"
    missing = await client.get("/api/schedules/nightly", headers=viewer)
    assert missing.status_code == 404 and "nightly_models" in missing.json()["detail"]
    trigger = await client.post("/api/schedules/every_hour/trigger", headers=viewer)
    assert trigger.status_code == 403

    unscheduled = await client.get("/api/sources/unscheduled", headers=viewer)
    assert unscheduled.status_code == 200, unscheduled.text
    assert unscheduled.json() == {
        "items": [
            {"name": "loose", "type": "files", "description": "", "disabled_schedules": ["paused"]}
        ],
        "total": 1,
    }


async def test_reload_applies_an_edited_project_and_warns_of_short_intervals(
    client: httpx.AsyncClient,
    api_project: Project,
    prefect_api: str,
    admin_key: str,
    bearer: Bearer,
) -> None:
    admin = bearer(admin_key)
    deployment = await _register(api_project)
    assert (await client.post("/api/schedules/reload", headers=admin)).status_code == 200
    source = _source(api_project)
    for seconds in (7200, 8000):  # its syncs take over 2 hours
        finished_run(
            prefect_api, "sync_source", [project_tag(api_project), source_tag(source)], seconds
        )

    text = api_project.file.read_text()
    text = text.replace('cron: "0 2 * * *"', 'cron: "0 4 * * *"')
    text = text.replace("  paused: {sources: [loose], interval: 2h, enabled: false}\n", "")
    api_project.file.write_text(text + "  later: {sources: [loose], interval: 1d}\n")
    response = await client.post("/api/schedules/reload", headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["added"] == ["later"] and body["removed"] == ["paused"]
    assert body["changed"] == [
        {"name": "nightly_models", "change": "now 0 4 * * * (Europe/Lisbon)"}
    ]
    assert body["unchanged"] == ["every_hour"]
    [warning] = body["warnings"]
    assert warning.startswith("schedule 'every_hour' runs every 1h but a typical run takes 2h6m40s")
    assert set(server_schedules(prefect_api, deployment["id"])) == {
        "every_hour",
        "nightly_models",
        "later",
    }
    listed = (await client.get("/api/schedules/every_hour", headers=admin)).json()
    assert listed["warning"] == warning
    assert listed["typical_duration_seconds"] == pytest.approx(7600, abs=1)

    # A broken project.yml is refused with its problem, and nothing is applied.
    api_project.file.write_text(text.replace("interval: 1h", "interval: 10s"))
    response = await client.post("/api/schedules/reload", headers=admin)
    assert response.status_code == 409 and response.json()["code"] == "project_invalid"
    assert "at least 1m" in response.json()["detail"]


async def test_trigger_is_idempotent_and_refuses_a_second_run_unless_queued(
    client: httpx.AsyncClient,
    api_project: Project,
    prefect_api: str,
    editor_key: str,
    bearer: Bearer,
) -> None:
    editor = bearer(editor_key)
    response = await client.post("/api/schedules/every_hour/trigger", headers=editor)
    assert response.status_code == 503 and response.json()["code"] == "not_served"
    await _register(api_project)
    key = {**editor, "Idempotency-Key": "hourly-once"}
    first = await client.post("/api/schedules/every_hour/trigger", headers=key)
    assert first.status_code == 202, first.text
    started = first.json()
    assert started["deployment"] == f"run_schedule/schedules-{api_project.config.project.name}"
    again = await client.post("/api/schedules/every_hour/trigger", headers=key)
    assert again.json()["run_id"] == started["run_id"] and again.json()["replayed"]
    busy = await client.post("/api/schedules/every_hour/trigger", headers=editor)
    assert busy.status_code == 409 and busy.json()["code"] == "schedule_running"
    queued = await client.post(
        "/api/schedules/every_hour/trigger", headers=editor, json={"queue": True}
    )
    assert queued.status_code == 202 and queued.json()["run_id"] != started["run_id"]
    history = (await client.get("/api/schedules/every_hour/history", headers=editor)).json()
    assert history["total"] == 2
    assert {run["id"] for run in history["items"]} == {started["run_id"], queued.json()["run_id"]}
    assert all(run["state"] == "scheduled" for run in history["items"])
    for run_id in (started["run_id"], queued.json()["run_id"]):  # nothing serves them
        prefect_request(
            prefect_api,
            f"/flow_runs/{run_id}/set_state",
            {"state": {"type": "CANCELLED"}, "force": True},
        )


def _wait_for(check: Callable[[], Any], seconds: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
async def test_a_triggered_schedule_runs_its_sync_under_serve_and_shows_in_history(
    client: httpx.AsyncClient,
    api_project: Project,
    prefect_api: str,
    editor_key: str,
    viewer_key: str,
    bearer: Bearer,
) -> None:
    editor, viewer = bearer(editor_key), bearer(viewer_key)
    source, name = _source(api_project), api_project.config.project.name
    log = api_project.root / "serve.log"
    serve = start_serve(api_project, prefect_api, log)
    try:
        # serve registers the schedules deployment and applies the schedules first.
        deployment = _wait_for(
            lambda: prefect_request(
                prefect_api,
                "/deployments/filter",
                {"deployments": {"name": {"any_": [f"sync-{source}"]}}},
            ),
            120,
            "the runner's deployments",
            log,
        )
        assert deployment
        schedules = prefect_request(prefect_api, f"/deployments/name/run_schedule/schedules-{name}")
        assert {item["slug"]: item["active"] for item in schedules["schedules"]} == {
            "every_hour": True,
            "nightly_models": True,
            "paused": False,
        }
        time.sleep(1.5)  # the runner polls for runs once it has registered them

        response = await client.post("/api/schedules/every_hour/trigger", headers=editor)
        assert response.status_code == 202, response.text
        run_id = response.json()["run_id"]
        run = await wait_for_state(client, viewer, run_id, {"completed", "failed", "crashed"})
        assert run["state"] == "completed", (run, log.read_text()[-3000:])
        assert run["kind"] == "schedule" and run["name"].startswith("schedule-every_hour-")
        with Warehouse(api_project).reader() as conn:
            assert conn.execute(f"SELECT count(*) FROM raw_{source}.items").fetchone() == (2,)

        history = (await client.get("/api/schedules/every_hour/history", headers=viewer)).json()
        assert history["total"] == 1
        [entry] = history["items"]
        assert (entry["id"], entry["state"], entry["schedule"]) == (
            run_id,
            "completed",
            "every_hour",
        )
        assert entry["duration_seconds"] > 0 and entry["error"] is None
        recent = (await client.get("/api/schedules/history/recent", headers=viewer)).json()
        assert [item["id"] for item in recent["items"]] == [run_id]
        listed = (await client.get("/api/schedules/every_hour", headers=viewer)).json()
        assert listed["last_run"]["id"] == run_id
        assert listed["last_run"]["state"] == "completed"
        # The child sync is a run of the source's own deployment, linked to the schedule.
        [child] = prefect_request(
            prefect_api,
            "/flow_runs/filter",
            {
                "flows": {"name": {"any_": ["sync_source"]}},
                "flow_runs": {"tags": {"all_": ["schedule:every_hour", source_tag(source)]}},
            },
        )
        assert child["state"]["type"] == "COMPLETED"
    finally:
        serve.terminate()
        serve.wait(timeout=30)
