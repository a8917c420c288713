"""The run_schedule flow in this process against the session's real Prefect server: its
child runs, timeout, retries and pipeline order.

No runner serves the child deployments here: a run nobody picks up is what a timeout
cancels, and `Outcomes` plays the runner's part by moving each child run to the final
state a test chooses (a real served run is in tests/api/test_schedules.py)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flows.deployments import build_deployments
from flows.schedules import run_schedule
from headwater.config import Project
from headwater.runs import prefect_request
from tests.schedules.conftest import write_project

pytestmark = pytest.mark.slow


def _project(tmp_path: Path, schedules: str) -> tuple[Project, str]:
    source = f"s{uuid.uuid4().hex[:8]}"  # its own sync deployment: sync-<source>
    body = f"""
sources:
  {source}:
    type: files
    tables:
      items: {{path: items.csv}}
schedules:
{schedules.format(source=source)}
"""
    project = write_project(tmp_path, body)
    for deployment in build_deployments(project):
        if deployment.name in {f"sync-{source}", "dbt-build"}:
            deployment.apply()  # registered, not served
    return project, source


def _children(api: str, schedule: str) -> list[dict[str, Any]]:
    body = {
        "flows": {"name": {"any_": ["sync_source", "dbt_build"]}},
        "flow_runs": {"tags": {"all_": [f"schedule:{schedule}"]}},
        "sort": "EXPECTED_START_TIME_ASC",
    }
    runs: list[dict[str, Any]] = prefect_request(api, "/flow_runs/filter", body)
    return runs


@contextmanager
def outcomes(api: str, schedule: str, decide: Callable[[dict[str, Any]], str]) -> Iterator[None]:
    """Until the block ends, move each new child run of `schedule` to `decide(run)`."""
    done: set[str] = set()
    stop = threading.Event()

    def play() -> None:
        while not stop.is_set():
            for run in _children(api, schedule):
                if run["id"] not in done and run["state"]["type"] == "SCHEDULED":
                    done.add(run["id"])
                    state = decide(run)
                    body = {
                        "state": {"type": state, "message": f"set {state.lower()} by the test"},
                        "force": True,
                    }
                    prefect_request(api, f"/flow_runs/{run['id']}/set_state", body)
            time.sleep(0.3)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_run_past_its_timeout_cancels_its_child_and_fails(
    tmp_path: Path, prefect_api: str
) -> None:
    project, source = _project(
        tmp_path, "  slow: {{sources: [{source}], interval: 1h, timeout: 3s}}"
    )
    state = run_schedule(schedule="slow", project_file=str(project.file), return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    assert state.message.startswith(
        f"schedule 'slow' timed out after 3s; cancelled sync {source} (run "
    )
    [child] = _children(prefect_api, "slow")
    assert child["state"]["type"] == "CANCELLED"
    assert child["parameters"]["source"] == source
    run = prefect_request(prefect_api, f"/flow_runs/{state.state_details.flow_run_id}")
    assert run["name"].startswith("schedule-slow-")
    assert {"schedule:slow", f"source:{source}", f"project:{project.config.project.name}"} <= set(
        run["tags"]
    )


def test_a_pipeline_retries_the_failed_sync_then_builds_downstream(
    tmp_path: Path, prefect_api: str
) -> None:
    project, source = _project(
        tmp_path, "  flow: {{pipeline: [{source}], interval: 1h, retries: 2, retry_delay: 1s}}"
    )
    syncs = 0

    def decide(run: dict[str, Any]) -> str:
        nonlocal syncs
        if run["parameters"].get("source") == source:
            syncs += 1
            return "FAILED" if syncs == 1 else "COMPLETED"
        return "COMPLETED"

    with outcomes(prefect_api, "flow", decide):
        result = run_schedule(schedule="flow", project_file=str(project.file))
    assert [row["step"] for row in result["runs"]] == [
        f"sync {source}",
        f"dbt build source:{source}+",
    ]
    assert [row["attempts"] for row in result["runs"]] == [2, 1]
    children = _children(prefect_api, "flow")
    assert [(child["parameters"].get("source"), child["state"]["type"]) for child in children] == [
        (source, "FAILED"),
        (source, "COMPLETED"),
        (None, "COMPLETED"),
    ]
    assert children[2]["parameters"]["select"] == f"source:{source}+"
    # The syncs leave the build to the pipeline: one build, after every sync.
    assert all(child["parameters"]["build_downstream"] is False for child in children[:2])


def test_failed_runs_past_the_retries_fail_the_schedule_and_skip_the_build(
    tmp_path: Path, prefect_api: str
) -> None:
    project, source = _project(
        tmp_path, "  bad: {{pipeline: [{source}], interval: 1h, retries: 1, retry_delay: 1s}}"
    )
    with outcomes(prefect_api, "bad", lambda run: "FAILED"):
        state = run_schedule(schedule="bad", project_file=str(project.file), return_state=True)
    assert state.is_failed()
    assert f"1 of 1 runs failed: sync {source}: set failed by the test" in state.message
    assert len(_children(prefect_api, "bad")) == 2  # the try and one retry; no dbt build


def test_a_schedule_missing_from_project_yml_fails_with_the_known_ones(
    tmp_path: Path, prefect_api: str
) -> None:
    project, _ = _project(tmp_path, "  real: {{sources: [{source}], interval: 1h}}")
    state = run_schedule(schedule="ghost", project_file=str(project.file), return_state=True)
    assert state.is_failed()
    assert "project.yml has no schedule 'ghost' (known: real)" in state.message
