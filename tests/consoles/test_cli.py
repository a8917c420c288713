"""`headwater consoles list | run | history`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from tests.consoles.shop import write_shop

runner = CliRunner()


def headwater(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.mark.slow
def test_run_prints_rows_and_assertions_then_list_and_history_show_it(
    tmp_path: Path, prefect_api: str
) -> None:
    project = write_shop(tmp_path / "shop", "cli_consoles")
    file = str(project.file)

    code, output = headwater("consoles", "run", "revenue", "--project", file)
    assert code == 0, output
    assert "ada" in output and "17.75" in output
    assert "pass min_rows: got 2, expected at least 1" in output
    assert "console revenue: 2 rows in" in output and "consoles.revenue" in output

    code, output = headwater("consoles", "run", "unsafe", "--project", file)
    assert code == 1
    assert "error: console 'unsafe': only read statements" in output
    assert "Traceback" not in output

    code, output = headwater("consoles", "list", "--project", file)
    assert code == 0, output
    lines = {line.split()[1]: line for line in output.splitlines() if line.startswith("│")}
    assert "cron 0 7 * * * (Europe/Lisbon)" in lines["revenue"]
    assert "succeeded" in lines["revenue"] and "never run" in lines["orders_csv"]
    assert "failed" in lines["unsafe"]

    code, output = headwater("consoles", "history", "revenue", "--project", file)
    assert code == 0, output
    assert "succeeded" in output and "3/3 passed" in output
    assert "1 of 1 runs of console revenue" in output


def test_unknown_consoles_exit_1_listing_the_known_ones(tmp_path: Path) -> None:
    project = write_shop(tmp_path / "shop", load=False)
    for command in ("run", "history"):
        code, output = headwater("consoles", command, "revnue", "--project", str(project.file))
        assert code == 1
        assert "no console 'revnue' in project.yml; known consoles: lost, orders_csv" in output
