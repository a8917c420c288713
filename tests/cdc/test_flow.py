"""CDC through Prefect and the CLI: the flow run, its artifact and events, the commands."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.deployments import build_deployments
from headwater.cli import app
from headwater.runs import prefect_request, runs_with_tag
from tests.cdc.conftest import CdcSource
from tests.conftest import wait_for_event

pytestmark = pytest.mark.slow
runner = CliRunner()


def headwater(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_flow_run_records_artifact_events_and_status(
    cdc_source: CdcSource, prefect_api: str
) -> None:
    from flows.cdc import cdc_sync

    cdc_source.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
    cdc_source.execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g")
    project = cdc_source.project(tables="t: {}")
    first: dict[str, Any] = cdc_sync(source=cdc_source.name, project_file=str(project.file))
    assert first["snapshots"][0]["rows"] == 50
    cdc_source.execute("UPDATE t SET v = 'changed' WHERE id <= 10")
    cdc_source.execute("DELETE FROM t WHERE id > 45")
    cdc_source.execute("INSERT INTO t VALUES (100, 'new')")
    second: dict[str, Any] = cdc_sync(source=cdc_source.name, project_file=str(project.file))
    assert second["changes"] == {"update": 10, "delete": 5, "insert": 1}
    assert second["snapshots"] == []
    [table] = second["status"]["tables"]
    assert table["rows"] == 46 and table["updates"] == 10 and table["deletes"] == 5

    [latest] = runs_with_tag(prefect_api, f"source:{cdc_source.name}", limit=1)
    assert latest.state == "completed" and latest.name.startswith(f"cdc-{cdc_source.name}-")
    key = f"cdc-{cdc_source.name.replace('_', '-')}"
    artifact = prefect_request(
        prefect_api, "/artifacts/latest/filter", {"artifacts": {"key": {"any_": [key]}}}
    )
    rows = artifact[0]["data"]
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert [(row["table"], row["rows"], row["status"]) for row in rows] == [("t", 46, "streaming")]
    event = wait_for_event(prefect_api, "headwater.cdc.batch", latest.id)
    assert event["changes"] == {"update": 10, "delete": 5, "insert": 1}


def test_cli_check_run_status_resync_and_health(cdc_source: CdcSource, prefect_api: str) -> None:
    cdc_source.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
    cdc_source.execute("CREATE TABLE nokey (v text)")
    project = cdc_source.project(tables="t: {}\nnokey: {}")
    where = ("--project", str(project.file))

    code, output = headwater("cdc", "check", cdc_source.name, *where)
    assert code == 1
    assert f"table {cdc_source.schema}.nokey has no primary key" in output
    assert f'ALTER TABLE "{cdc_source.schema}"."nokey" REPLICA IDENTITY FULL;' in output
    assert "Traceback" not in output
    code, output = headwater("cdc", "run", cdc_source.name, *where)
    assert code == 1 and "is not ready for CDC" in output and "Traceback" not in output

    cdc_source.execute("ALTER TABLE nokey REPLICA IDENTITY FULL")
    code, output = headwater("cdc", "check", cdc_source.name, *where)
    assert code == 0 and "ready" in output
    cdc_source.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    code, output = headwater("cdc", "run", cdc_source.name, *where)
    assert code == 0, output
    assert "snapshot t: 2 rows" in output
    cdc_source.execute("INSERT INTO t VALUES (3, 'c')")
    code, output = headwater("cdc", "run", cdc_source.name, *where)
    assert code == 0 and "1 inserts" in output

    code, output = headwater("cdc", "status", cdc_source.name, "--json", *where)
    assert code == 0
    status = json.loads(output)
    assert status["slot"] == f"headwater_{cdc_source.name}" and status["slot_exists"]
    assert status["lag_bytes"] >= 0
    assert {t["table"]: t["rows"] for t in status["tables"]} == {"t": 3, "nokey": 0}

    code, output = headwater("cdc", "resync", cdc_source.name, "--table", "t", *where)
    assert code == 0 and "snapshot t: 3 rows" in output and "nokey" not in output
    code, output = headwater("cdc", "schema-health", cdc_source.name, *where)
    assert code == 0 and "drift" not in output and "match" in output
    code, output = headwater("cdc", "status", "nope", *where)
    assert code == 1 and "nope" in output and "Traceback" not in output


def test_deployment_runs_on_an_interval(cdc_source: CdcSource) -> None:
    batch = cdc_source.project("interval_seconds: 30")
    [deployment] = [d for d in build_deployments(batch) if d.name.startswith("cdc-")]
    assert deployment.name == f"cdc-{cdc_source.name}"
    assert deployment.parameters["continuous"] is False
    assert deployment.schedules[0].schedule.interval.total_seconds() == 30
    continuous = cdc_source.project("mode: continuous")
    [deployment] = [d for d in build_deployments(continuous) if d.name.startswith("cdc-")]
    assert deployment.parameters["continuous"] is True
    assert deployment.concurrency_options.collision_strategy == "CANCEL_NEW"


def test_plain_sync_of_a_cdc_source_points_to_the_cdc_commands(cdc_source: CdcSource) -> None:
    project = cdc_source.project()
    code, output = headwater("sync", cdc_source.name, "--project", str(project.file))
    assert code == 1 and f"headwater cdc run {cdc_source.name}" in output


def test_slot_lag_above_the_threshold_warns(cdc_source: CdcSource, prefect_api: str) -> None:
    from flows.cdc import cdc_sync

    cdc_source.execute("CREATE TABLE t (id integer PRIMARY KEY)")
    project = cdc_source.project("lag_warning_bytes: 1", tables="t: {}")
    cdc_sync(source=cdc_source.name, project_file=str(project.file))
    cdc_source.execute("INSERT INTO t SELECT generate_series(1, 100)")
    # No batch runs: the changes wait in the slot, so the slot lags.
    result: dict[str, Any] = cdc_sync(
        source=cdc_source.name, max_batches=0, project_file=str(project.file)
    )
    assert result["status"]["lag_warning"] and result["status"]["lag_bytes"] > 1
    assert any("lag" in reason for reason in result["status"]["needs_attention"])
    [latest] = runs_with_tag(prefect_api, f"source:{cdc_source.name}", limit=1)
    event = wait_for_event(prefect_api, "headwater.cdc.lag", latest.id)
    assert event["slot"] == f"headwater_{cdc_source.name}" and event["lag_bytes"] > 1


def test_continuous_run_keeps_applying(cdc_source: CdcSource, prefect_api: str) -> None:
    import threading

    from flows.cdc import cdc_sync

    cdc_source.execute("CREATE TABLE t (id integer PRIMARY KEY)")
    project = cdc_source.project("poll_seconds: 0.2", tables="t: {}")
    cdc_sync(source=cdc_source.name, project_file=str(project.file))

    def write_later() -> None:
        for i in range(5):
            cdc_source.execute("INSERT INTO t VALUES (%s)", (i,))

    writer = threading.Timer(0.5, write_later)
    writer.start()
    # Bounded here by max_batches; served, a continuous run goes on until cancelled.
    result: dict[str, Any] = cdc_sync(
        source=cdc_source.name, continuous=True, max_batches=15, project_file=str(project.file)
    )
    writer.join()
    assert result["batches"] == 15
    assert result["changes"] == {"insert": 5}


def test_disabled_source_is_not_replicated(cdc_source: CdcSource, prefect_api: str) -> None:
    project = cdc_source.project("enabled: false")
    code, output = headwater("cdc", "run", cdc_source.name, "--project", str(project.file))
    assert code == 1 and "disabled" in output and "Traceback" not in output
