"""`headwater schedules list | reload | history | trigger` in this process, against the
session's real Prefect server."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from headwater.cli import app
from headwater.runs import prefect_request, project_tag, source_tag
from tests.schedules.conftest import finished_run, register_schedules_deployment, write_project

BODY = """
sources:
  shop: {type: files, tables: {items: {path: items.csv}}}
schedules:
  often: {sources: [shop], interval: 5m}
  nightly: {dbt: {select: marts}, cron: "0 2 * * *", timezone: Europe/Lisbon, enabled: false}
"""


def headwater(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_reload_list_history_and_trigger(tmp_path: Path, prefect_api: str) -> None:
    project = write_project(tmp_path, BODY)
    file = str(project.file)
    code, output = headwater("schedules", "reload", "--project", file)
    assert code == 1 and "is not registered" in output and "headwater serve" in output

    register_schedules_deployment(project)
    for seconds in (600, 660):
        finished_run(
            prefect_api, "sync_source", [project_tag(project), source_tag("shop")], seconds
        )
    code, output = headwater("schedules", "reload", "--project", file)
    assert code == 0, output
    assert "2 added, 0 changed, 0 removed, 0 unchanged" in output
    assert "+ often" in output and "+ nightly" in output
    warning = "warning: schedule 'often' runs every 5m but a typical run takes 10m30s"
    assert warning in output

    code, output = headwater("schedules", "list", "--project", file)
    assert code == 0, output
    assert "sync shop" in output and "every 5m" in output and "never ran" in output
    assert "0 2 * * * (Europe/Lisbon) (disabled)" in output
    assert warning in output

    code, output = headwater("schedules", "history", "often", "--project", file)
    assert (code, output.strip()) == (0, "schedule 'often' has not run yet")
    code, output = headwater("schedules", "history", "oftn", "--project", file)
    assert code == 1 and "no schedule 'oftn' in project.yml (did you mean 'often'?)" in output

    code, output = headwater("schedules", "trigger", "often", "--project", file)
    assert code == 0 and output.startswith("started run "), output
    run_id = output.split()[2]
    run = prefect_request(prefect_api, f"/flow_runs/{run_id}")
    assert run["parameters"]["schedule"] == "often" and "schedule:often" in run["tags"]
    prefect_request(  # nothing serves it
        prefect_api,
        f"/flow_runs/{run_id}/set_state",
        {"state": {"type": "CANCELLED"}, "force": True},
    )
    code, output = headwater("schedules", "history", "often", "--project", file)
    assert code == 0 and "Cancelled" in output and "1 of 1 runs" in output
