"""`headwater dbt build | models | sources` end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from headwater.cli import app
from headwater.config import Project
from headwater.dbt.profile import dbt_paths

runner = CliRunner()


def headwater(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "250"})
    return result.exit_code, result.output


def test_build_without_a_dbt_project_says_so(tmp_path: Path) -> None:
    (tmp_path / "project.yml").write_text("project: {name: x}\n")
    code, output = headwater("dbt", "build", "--project", str(tmp_path))
    assert code == 1 and "no dbt project" in output and "Traceback" not in output


@pytest.mark.slow
def test_models_build_and_sources(lake_project: Project, prefect_api: str) -> None:
    project = str(lake_project.file)
    code, output = headwater("dbt", "models", "--project", project)
    assert code == 0, output
    assert "stg_orders" in output and "never run" in output and "4 models" in output

    code, output = headwater("dbt", "build", "--select", "source:orders+", "--select",
                             "stg_customers", "--project", project)
    assert code == 0, output
    assert "daily_orders" in output and "unique_stg_orders_order_id" in output
    assert "dbt build: 4 models" in output

    code, output = headwater("dbt", "models", "--project", project)
    assert code == 0, output
    line = next(line for line in output.splitlines() if "customer_revenue" in line)
    # The last cell is the rows the last build wrote (the line also holds the run's date).
    assert "table" in line and "success" in line and line.rstrip(" │").split()[-1] == "20"
    assert "never run" not in output

    code, output = headwater("dbt", "sources", "--project", project)
    assert code == 0, output
    assert "sources.yml" in output

    code, output = headwater("dbt", "build", "--select", "nothing_matches_this",
                             "--project", project)
    assert code == 0, output
    assert "dbt build: 0 models" in output

    broken = dbt_paths(lake_project).project_dir / "models" / "broken.sql"
    broken.write_text("select nope from {{ ref('stg_orders') }}\n")
    try:
        code, output = headwater("dbt", "build", "-s", "broken", "--project", project)
    finally:
        broken.unlink()
    assert code == 1 and "Traceback" not in output
    assert "model broken failed: Binder Error" in " ".join(output.split())
