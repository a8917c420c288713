"""What the CLI prints when its output goes to a file or a pipe, as scripts and CI read it:
nothing cut at 80 columns, complete lines, and no stray lines from the tools underneath."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from headwater.config import load_project
from headwater.dbt.runner import list_selected
from tests.dbt.conftest import new_project, write_raw

WIDE = "w" * 150


def headwater_piped(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `headwater` command with stdout and stderr going to pipes, no COLUMNS."""
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    return subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL,
    )


def test_a_wide_result_reaches_a_pipe_whole(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "headwater", "init", str(tmp_path)], check=True,
                   capture_output=True)
    done = headwater_piped(
        "sql", f"SELECT '{WIDE}' AS first_column, '{WIDE}' AS second_column", "-p", str(tmp_path)
    )
    assert done.returncode == 0, done.stderr
    [row] = [line for line in done.stdout.splitlines() if WIDE in line]
    assert row.count(WIDE) == 2  # both values whole, on one line
    assert "first_column" in done.stdout and "second_column" in done.stdout


def test_errors_in_a_pipe_are_not_wrapped(tmp_path: Path) -> None:
    done = headwater_piped("validate", "--project", str(tmp_path / f"{WIDE}.yml"))
    assert done.returncode == 1
    [line] = [line for line in (done.stdout + done.stderr).splitlines() if WIDE in line]
    assert "headwater init" in line  # the whole message on the line that names the file


@pytest.mark.slow
def test_a_piped_sync_prints_its_table_once_then_the_summary(
    tmp_path: Path, prefect_api: str
) -> None:
    subprocess.run([sys.executable, "-m", "headwater", "init", str(tmp_path)], check=True,
                   capture_output=True)
    done = headwater_piped("sync", "example", "--project", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum("cities" in line for line in lines) == 1  # one table, not a frame per refresh
    [summary] = [line for line in lines if line.startswith("synced example")]
    assert "run details at http" in summary  # one line, not cut at 80 columns
    assert not any(line.lstrip().startswith("{") for line in lines)
    assert done.stderr == ""


def test_selecting_models_prints_nothing(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    project = new_project(tmp_path)
    write_raw(project)
    capfd.readouterr()
    models = list_selected(load_project(project.file), ["source:orders+"])
    assert any(model.endswith(".stg_orders") for model in models)
    out, _ = capfd.readouterr()
    assert "unique_id" not in out  # dbt's ls prints its JSON lines even with --quiet
