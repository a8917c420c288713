"""Freshness against real Prefect run history: runs created on the test server, judged now
and at later moments (instead of waiting)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from headwater.config import Project
from headwater.config.schedules import ScheduleConfig
from headwater.governance.freshness import (
    freshness_threshold,
    latest_finished_sync,
    schedule_interval,
    source_freshness,
)
from headwater.runs import prefect_request
from tests.conftest import MakeProject

PROJECT = """
project: {{name: {name}}}
sources:
  hourly: {{type: files, freshness: 1h, tables: {{t: {{path: a.csv}}}}}}
  scheduled: {{type: files, tables: {{t: {{path: a.csv}}}}}}
  piped: {{type: files, tables: {{t: {{path: a.csv}}}}}}
  loose: {{type: files, tables: {{t: {{path: a.csv}}}}}}
  off: {{type: files, enabled: false, freshness: 1m, tables: {{t: {{path: a.csv}}}}}}
schedules:
  every_minute: {{sources: [scheduled], interval: 1m}}
  nightly: {{pipeline: [piped], cron: "0 2 * * *", timezone: Europe/Lisbon}}
  paused: {{sources: [loose], interval: 1m, enabled: false}}
"""


def finished_run(api: str, project: Project, source: str, state: str = "COMPLETED") -> str:
    """A sync_source flow run of `source` that ended now in `state`; its id."""
    flow = prefect_request(api, "/flows/", {"name": "sync_source"})
    run = prefect_request(api, "/flow_runs/", {
        "flow_id": flow["id"],
        "name": f"sync-{source}-{uuid.uuid4().hex[:6]}",
        "tags": [f"project:{project.config.project.name}", f"source:{source}"],
        "state": {"type": state, "name": state.title(), "message": f"{state.lower()} on purpose"},
    })
    return str(run["id"])


@pytest.fixture
def project(make_project: MakeProject) -> Project:
    return make_project(PROJECT.format(name=f"fresh_{uuid.uuid4().hex[:8]}"))


def test_thresholds_come_from_freshness_then_the_fastest_enabled_schedule(
    project: Project,
) -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert freshness_threshold(project, "hourly", now) == (timedelta(hours=1), "freshness: 1h")
    assert freshness_threshold(project, "scheduled", now) == (
        timedelta(minutes=2), "2 x schedule every_minute (1m)"
    )
    assert freshness_threshold(project, "piped", now) == (
        timedelta(days=2), "2 x schedule nightly (1d)"
    )
    assert freshness_threshold(project, "loose", now) is None  # its schedule is disabled


def test_a_cron_interval_is_the_gap_around_now() -> None:
    weekdays = ScheduleConfig(sources=["a"], cron="0 2 * * 1-5", timezone="Europe/Lisbon")
    monday_night = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)  # between Friday's and Monday's run
    assert schedule_interval(weekdays, monday_night) == timedelta(days=3)
    tuesday_noon = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert schedule_interval(weekdays, tuesday_noon) == timedelta(days=1)


def test_freshness_from_the_last_completed_sync(project: Project, prefect_api: str) -> None:
    before = source_freshness(project, prefect_api)
    assert {name: f.state for name, f in before.items()} == {
        "hourly": "never_synced", "scheduled": "never_synced", "piped": "never_synced",
        "loose": "unmonitored", "off": "unmonitored",
    }
    assert not any(f.stale for f in before.values())

    finished_run(prefect_api, project, "hourly")
    finished_run(prefect_api, project, "scheduled")
    failed = finished_run(prefect_api, project, "scheduled", "FAILED")

    now = source_freshness(project, prefect_api)
    assert now["hourly"].state == "fresh" and now["scheduled"].state == "fresh"
    assert now["hourly"].last_success_at is not None
    # The failed run is the latest finished one, but the success still counts for freshness.
    latest = latest_finished_sync(project, prefect_api, "scheduled")
    assert latest is not None and latest.id == failed and latest.state == "failed"

    later = datetime.now(UTC) + timedelta(minutes=5)
    judged = source_freshness(project, prefect_api, now=later)
    assert judged["scheduled"].stale and judged["scheduled"].state == "stale"
    assert "older than 2m (2 x schedule every_minute (1m))" in judged["scheduled"].reason
    assert not judged["hourly"].stale

    much_later = datetime.now(UTC) + timedelta(hours=2)
    assert source_freshness(project, prefect_api, now=much_later)["hourly"].stale
    # Runs of another project with the same source name do not count.
    other = source_freshness(
        Project(config=project.config.model_copy(
            update={"project": project.config.project.model_copy(update={"name": "someone"})}
        ), file=project.file),
        prefect_api,
    )
    assert other["hourly"].state == "never_synced"
