"""The `headwater` command, end to end: init, validate, sync, status, sql."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from headwater.runs import prefect_request, runs_with_tag

runner = CliRunner()


def headwater(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_validate_reports_every_error_with_its_line(tmp_path: Path) -> None:
    project = tmp_path / "project.yml"
    project.write_text(
        "project:\n  name: demo\nsources:\n  orders:\n    type: files\n"
        "    write_disposition: merg\n    tables:\n      orders: {paht: a.csv}\n"
    )
    code, output = headwater("validate", "--project", str(project))
    assert code == 1
    lines = output.strip().splitlines()
    assert lines[0] == (
        "project.yml:6  sources.orders.write_disposition: 'merg' is not one of append, "
        "replace, merge (did you mean 'merge'?)"
    )
    assert any(line.startswith("project.yml:8  sources.orders.tables.orders") for line in lines)
    assert "Traceback" not in output


def test_validate_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    code, output = headwater("validate", "--project", str(tmp_path / "nope.yml"))
    assert code == 1
    assert "headwater init" in output


def test_sync_unknown_source_lists_the_known_ones(tmp_path: Path) -> None:
    assert headwater("init", str(tmp_path))[0] == 0
    code, output = headwater("sync", "exampel", "--project", str(tmp_path))
    assert code == 1
    assert "no source named 'exampel'" in output and "known: example" in output


@pytest.mark.slow
def test_init_project_validates_syncs_and_answers_queries(tmp_path: Path, prefect_api: str) -> None:
    code, output = headwater("init", str(tmp_path))
    assert code == 0, output
    code, output = headwater("validate", "--project", str(tmp_path))
    assert code == 0 and "is valid" in output

    code, output = headwater("sync", "example", "--project", str(tmp_path))
    assert code == 0, output
    assert "synced example: 1 tables, 3 rows" in output

    code, output = headwater("status", "--project", str(tmp_path))
    assert code == 0, output
    assert "example" in output and "completed" in output
    # The terminal is quiet, but the run's logs reach Prefect (the UI shows them).
    [run] = runs_with_tag(prefect_api, "source:example", limit=1)
    assert "example.cities: 3 rows" in _run_logs(prefect_api, run.id, "example.cities: 3 rows")

    code, output = headwater(
        "sql", "SELECT city FROM raw_example.cities ORDER BY population DESC", "-p", str(tmp_path)
    )
    assert code == 0, output
    assert output.index("Lisbon") < output.index("Ghent") < output.index("Porto")
    assert "3 rows" in output


@pytest.mark.slow
def test_failed_sync_exits_1_with_the_reason(tmp_path: Path, prefect_api: str) -> None:
    headwater("init", str(tmp_path))
    (tmp_path / "data" / "cities.csv").unlink()
    code, output = headwater("sync", "example", "--project", str(tmp_path))
    assert code == 1
    assert "no file matches 'data/cities.csv'" in output
    assert "Traceback" not in output


def test_sql_errors_are_one_line(tmp_path: Path) -> None:
    headwater("init", str(tmp_path))
    code, output = headwater("sql", "SELEC 1", "-p", str(tmp_path))
    assert code == 1
    assert "syntax error" in output.lower() and "Traceback" not in output


def test_sql_session_is_read_only(tmp_path: Path) -> None:
    headwater("init", str(tmp_path))
    code, output = headwater("sql", "CREATE TABLE t AS SELECT 1", "-p", str(tmp_path))
    assert code == 1
    assert "read-only" in output


def _run_logs(api: str, run_id: str, wanted: str) -> str:
    """Log messages of a flow run, joined; logs arrive in batches, so poll until `wanted`
    shows (or 30 s pass)."""
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}}
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline and wanted not in text:
        text = " ".join(entry["message"] for entry in prefect_request(api, "/logs/filter", body))
        time.sleep(0.5)
    return text
