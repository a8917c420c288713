"""What Headwater sets up on the Prefect server (pool deployments, the writers limit, the
crash automation) and the writers slot, against the session's real Prefect server."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest
from prefect import flow

from flows.deployments import build_deployments
from flows.limits import writer_slot
from flows.orchestration import ensure_work_pool, prepare_server
from headwater.config import Project, load_project
from headwater.errors import TerminalError
from headwater.runs import prefect_request, writers_limit_name
from tests.config.test_loader import only_problem

pytestmark = pytest.mark.slow


def _project(root: Path, extra: str = "", name: str | None = None) -> Project:
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "a.csv").write_text("id\n1\n")
    (root / "project.yml").write_text(
        f"project: {{name: {name or 'orch_' + uuid.uuid4().hex[:6]}}}\n"
        + textwrap.dedent(extra)
        + "sources:\n  a:\n    type: files\n    tables:\n      a: {path: data/a.csv}\n"
    )
    return load_project(root)


def test_pool_deployments_name_their_flows_by_module_and_no_machine_path(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path)
    served = {d.name: d for d in build_deployments(project)}
    pooled = {d.name: d for d in build_deployments(project, on_pool=True)}
    assert set(served) == set(pooled) == {
        "dbt-build", "housekeeping", "monitoring", "run-console", "sync-a",
        f"schedules-{project.config.project.name}",
    }
    assert pooled["sync-a"].entrypoint == "flows.sync.sync_source"
    assert pooled["sync-a"].parameters == {"source": "a"}
    assert served["sync-a"].entrypoint.endswith("flows/sync.py:sync_source")
    assert served["sync-a"].parameters == {"source": "a", "project_file": str(project.file)}


def test_prepare_server_registers_the_pool_and_applies_changes(
    tmp_path: Path, prefect_api: str
) -> None:
    pool = f"hw-test-{uuid.uuid4().hex[:6]}"
    name = f"orch_{uuid.uuid4().hex[:6]}"
    settings = (
        "prefect: {{work_pool: {pool}, crash_after_seconds: {seconds}}}\n"
        "schedules:\n  daily: {{sources: [a], cron: '0 6 * * *'}}\n"
    )
    project = _project(tmp_path, settings.format(pool=pool, seconds=90), name)
    prepared = prepare_server(project)
    assert prepared.work_pool == pool
    assert sorted(prepared.deployments) == [
        "dbt-build", "housekeeping", "monitoring", "run-console", f"schedules-{name}", "sync-a"
    ]
    # The schedules are applied to the pool's schedules deployment, as by `serve`.
    assert prepared.schedules is not None and prepared.schedules.added == ["daily"]
    schedules = prefect_request(prefect_api, f"/deployments/name/run_schedule/schedules-{name}")
    assert schedules["work_pool_name"] == pool
    assert [item["slug"] for item in schedules["schedules"]] == ["daily"]
    deployment = prefect_request(prefect_api, "/deployments/name/sync_source/sync-a")
    assert deployment["work_pool_name"] == pool
    assert prefect_request(prefect_api, f"/work_pools/{pool}")["type"] == "process"
    limit = prefect_request(prefect_api, f"/v2/concurrency_limits/{writers_limit_name(project)}")
    assert limit["limit"] == 1  # a SQLite catalog takes one writer
    [automation] = prefect_request(
        prefect_api,
        "/automations/filter",
        {"automations": {"name": {"any_": [prepared.crash_automation]}}},
    )
    assert automation["trigger"]["within"] == 90
    assert automation["actions"][0]["state"] == "CRASHED"

    # Run again after project.yml changed: the automation follows, nothing is duplicated.
    project = _project(tmp_path, settings.format(pool=pool, seconds=300), name)
    again = prepare_server(project)
    assert again.schedules is not None and again.schedules.unchanged == ["daily"]
    automations = prefect_request(
        prefect_api,
        "/automations/filter",
        {"automations": {"name": {"any_": [prepared.crash_automation]}}},
    )
    assert [automation["trigger"]["within"] for automation in automations] == [300]


def test_a_pool_of_another_type_is_refused(prefect_api: str) -> None:
    pool = f"hw-test-{uuid.uuid4().hex[:6]}"
    prefect_request(prefect_api, "/work_pools/", {"name": pool, "type": "prefect-agent"})
    with pytest.raises(TerminalError, match=f"work pool '{pool}' exists with type"):
        ensure_work_pool(pool)


def test_a_write_in_a_flow_run_holds_a_writers_slot(tmp_path: Path, prefect_api: str) -> None:
    project = _project(tmp_path)

    @flow
    def write() -> int:
        with writer_slot(project):
            limit = prefect_request(
                prefect_api, f"/v2/concurrency_limits/{writers_limit_name(project)}"
            )
            return int(limit["active_slots"])

    assert write() == 1
    after = prefect_request(prefect_api, f"/v2/concurrency_limits/{writers_limit_name(project)}")
    assert after["active_slots"] == 0


def test_several_writers_need_a_postgres_catalog(tmp_path: Path) -> None:
    line = only_problem(
        tmp_path,
        """
        project: {name: demo}
        warehouse:
          max_writers: 3
        """,
    )
    assert line.startswith("project.yml:2  warehouse: max_writers 3 needs a PostgreSQL catalog")
