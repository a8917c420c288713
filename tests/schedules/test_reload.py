"""Applying project.yml's schedules to Prefect: exactly the difference, by schedule name,
against the session's real Prefect server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headwater.errors import TerminalError
from headwater.runs import project_tag, source_tag
from headwater.schedules import apply_schedules, schedule_statuses, unscheduled_sources
from headwater.schedules.timing import next_fire_time
from tests.schedules.conftest import (
    finished_run,
    register_schedules_deployment,
    server_schedules,
    write_project,
)

SOURCES = """
sources:
  shop:
    type: files
    tables:
      items: {path: items.csv}
  crm:
    type: files
    tables:
      items: {path: items.csv}
"""

FIRST = (
    SOURCES
    + """
schedules:
  nightly: {sources: [shop, crm], cron: "0 2 * * *", timezone: Europe/Lisbon}
  hourly: {sources: [shop], interval: 1h}
  paused: {sources: [crm], cron: "*/30 * * * *", enabled: false}
  gone: {dbt: {select: marts}, interval: 2h}
"""
)

# nightly moves to 03:00, hourly is disabled, gone is removed, fresh is added, paused stays.
SECOND = (
    SOURCES
    + """
schedules:
  nightly: {sources: [shop, crm], cron: "0 3 * * *", timezone: Europe/Lisbon}
  hourly: {sources: [shop], interval: 1h, enabled: false}
  paused: {sources: [crm], cron: "*/30 * * * *", enabled: false}
  fresh: {pipeline: [crm], interval: 1d, timeout: 2h, retries: 2}
"""
)


def test_reload_applies_exactly_the_difference(tmp_path: Path, prefect_api: str) -> None:
    project = write_project(tmp_path, FIRST)
    deployment = register_schedules_deployment(project)

    report = apply_schedules(project, prefect_api)
    assert sorted(report.added) == ["gone", "hourly", "nightly", "paused"]
    assert (report.changed, report.removed, report.unchanged) == ({}, [], [])
    on_server = server_schedules(prefect_api, deployment["id"])
    assert set(on_server) == {"gone", "hourly", "nightly", "paused"}
    nightly = on_server["nightly"]
    assert nightly["schedule"]["cron"] == "0 2 * * *"
    assert nightly["schedule"]["timezone"] == "Europe/Lisbon"
    assert nightly["parameters"] == {"schedule": "nightly"}
    assert nightly["active"] is True
    assert on_server["hourly"]["schedule"]["interval"] == 3600
    assert on_server["paused"]["active"] is False  # disabled: kept, inactive
    ids = {slug: item["id"] for slug, item in on_server.items()}

    project = write_project(tmp_path, SECOND, project.config.project.name)
    report = apply_schedules(project, prefect_api)
    assert report.added == ["fresh"]
    assert report.changed == {"nightly": "now 0 3 * * * (Europe/Lisbon)", "hourly": "disabled"}
    assert report.removed == ["gone"]
    assert report.unchanged == ["paused"]
    on_server = server_schedules(prefect_api, deployment["id"])
    assert set(on_server) == {"nightly", "hourly", "paused", "fresh"}
    assert on_server["nightly"]["schedule"]["cron"] == "0 3 * * *"
    assert on_server["hourly"]["active"] is False
    assert on_server["fresh"]["schedule"]["interval"] == 86400
    # Updated in place: the Prefect UI keeps each schedule's identity.
    assert {slug: on_server[slug]["id"] for slug in ("nightly", "hourly", "paused")} == {
        slug: ids[slug] for slug in ("nightly", "hourly", "paused")
    }

    again = apply_schedules(project, prefect_api)
    assert again.changes == 0
    assert sorted(again.unchanged) == ["fresh", "hourly", "nightly", "paused"]

    # Serving again (the deployment re-applied without schedules) keeps them.
    register_schedules_deployment(project)
    assert set(server_schedules(prefect_api, deployment["id"])) == set(on_server)


def test_statuses_show_next_runs_and_what_is_not_applied(tmp_path: Path, prefect_api: str) -> None:
    project = write_project(tmp_path, FIRST)
    register_schedules_deployment(project)
    apply_schedules(project, prefect_api)
    before = datetime.now(UTC)
    statuses = {status.name: status for status in schedule_statuses(project, prefect_api)}
    assert all(status.applied for status in statuses.values())
    assert statuses["paused"].next_run_time is None
    nightly = statuses["nightly"].next_run_time
    assert nightly is not None and nightly > before
    assert nightly.astimezone(ZoneInfo("Europe/Lisbon")).hour == 2
    assert statuses["nightly"].last_run is None

    edited = write_project(tmp_path, SECOND, project.config.project.name)
    statuses = {status.name: status for status in schedule_statuses(edited, prefect_api)}
    assert not statuses["nightly"].applied and not statuses["fresh"].applied
    assert statuses["paused"].applied


def test_next_fire_time_follows_cron_time_zone_and_interval_anchor(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        SOURCES
        + """
schedules:
  lisbon: {sources: [shop], cron: "0 2 * * *", timezone: Europe/Lisbon}
  quarter: {sources: [shop], interval: 15m}
  daily: {sources: [shop], interval: 1d, timezone: America/New_York}
""",
    )
    schedules = project.config.all_schedules()
    summer = datetime(2026, 7, 1, 12, 7, tzinfo=UTC)
    assert next_fire_time(schedules["lisbon"], summer) == datetime(2026, 7, 2, 1, 0, tzinfo=UTC)
    assert next_fire_time(schedules["quarter"], summer) == datetime(2026, 7, 1, 12, 15, tzinfo=UTC)
    # Intervals count from midnight in their time zone: 1d fires at midnight New York time.
    assert next_fire_time(schedules["daily"], summer) == datetime(2026, 7, 2, 4, 0, tzinfo=UTC)


def test_reload_without_the_deployment_says_how_to_register_it(
    tmp_path: Path, prefect_api: str
) -> None:
    project = write_project(tmp_path, FIRST)
    with pytest.raises(TerminalError, match="start `headwater serve`"):
        apply_schedules(project, prefect_api)


def test_an_interval_shorter_than_the_typical_run_is_a_warning(
    tmp_path: Path, prefect_api: str
) -> None:
    project = write_project(
        tmp_path,
        SOURCES
        + """
schedules:
  often: {sources: [shop, crm], interval: 5m}
  roomy: {sources: [crm], interval: 1h}
  by_cron: {sources: [shop], cron: "*/5 * * * *"}
""",
    )
    tag = project_tag(project)
    for seconds in (400, 700, 720):  # syncs of shop: median 700 s
        finished_run(prefect_api, "sync_source", [tag, source_tag("shop")], seconds)
    finished_run(prefect_api, "sync_source", [tag, source_tag("crm")], 90)
    register_schedules_deployment(project)

    report = apply_schedules(project, prefect_api)
    [warning] = report.warnings
    assert warning.startswith(
        "schedule 'often' runs every 5m but a typical run takes 11m40s "
        "(median of the last 3 successful runs of syncs of shop)"
    )
    statuses = {status.name: status for status in schedule_statuses(project, prefect_api)}
    assert statuses["often"].warning is not None
    assert statuses["often"].warning.typical_seconds == pytest.approx(700, abs=1)
    assert statuses["roomy"].warning is None  # 90 s runs in a 1 h interval
    assert statuses["by_cron"].warning is None  # only intervals are checked

    # Once the schedule has runs of its own, they are the measure.
    for seconds in (100, 120):
        finished_run(prefect_api, "run_schedule", [tag, "schedule:often"], seconds)
    assert apply_schedules(project, prefect_api).warnings == []


def test_unscheduled_sources_are_enabled_ones_no_enabled_schedule_syncs(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        """
sources:
  synced: {type: files, tables: {items: {path: items.csv}}}
  piped: {type: files, tables: {items: {path: items.csv}}}
  paused_only: {type: files, tables: {items: {path: items.csv}}}
  loose: {type: files, tables: {items: {path: items.csv}}}
  off: {type: files, enabled: false, tables: {items: {path: items.csv}}}
schedules:
  a: {sources: [synced], interval: 1h}
  b: {pipeline: [piped], cron: "0 * * * *"}
  c: {sources: [paused_only, synced], interval: 1h, enabled: false}
""",
    )
    assert unscheduled_sources(project) == {"paused_only": ["c"], "loose": []}
