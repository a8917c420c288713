"""Scale-out on real servers: Prefect on PostgreSQL, the DuckLake catalog on PostgreSQL,
two `headwater worker` processes, syncs triggered over the API, and the faults a cluster
meets (a worker killed mid-run, the catalog database gone for a while)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from headwater.runs import prefect_request, writers_limit_name
from tests.api.conftest import api_client, bearer_headers, create_key, running_app, set_up_admin
from tests.api.served import with_own_store
from tests.scaleout.cluster import (
    LAKE_ENV,
    TERMINAL,
    Cluster,
    admin_sql,
    database,
    libpq_url,
    prefect_server_on_postgres,
    write_parquet,
    write_project,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SMALL_SOURCES = {f"s{i}": 20_000 + i for i in range(6)}
BIG_ROWS = 1_500_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pg_url: str) -> Iterator[Cluster]:
    """Servers, project (six small sources and one big), deployments and two workers."""
    root = tmp_path_factory.mktemp("scaleout")
    with (
        prefect_server_on_postgres(root / "prefect") as api_url,
        database("hw_lake") as lake,
    ):
        write_project(root, api_url, {**SMALL_SOURCES, "big": BIG_ROWS})
        env = {**os.environ, "PREFECT_API_URL": api_url, LAKE_ENV: libpq_url(lake)}
        cluster = Cluster(root=root, api_url=api_url, lake_database=lake, env=env)
        deployed = cluster.headwater("deploy")
        assert deployed.returncode == 0, deployed.stderr + deployed.stdout
        # 7 sources; dbt, console, housekeeping, monitoring and schedules
        assert "registered 12 deployments" in deployed.stdout
        previous = os.environ.get(LAKE_ENV)
        os.environ[LAKE_ENV] = env[LAKE_ENV]  # the test reads the warehouse too
        try:
            cluster.start_worker("w1")
            cluster.start_worker("w2")
            yield cluster
        finally:
            cluster.stop_workers()
            if previous is None:
                os.environ.pop(LAKE_ENV, None)


def _trigger(cluster: Cluster, source: str, **parameters: object) -> str:
    """Create a run of the source's deployment straight on Prefect (as a schedule would)."""
    deployment = prefect_request(
        cluster.api_url, f"/deployments/name/sync_source/sync-{source}"
    )
    run = prefect_request(
        cluster.api_url,
        f"/deployments/{deployment['id']}/create_flow_run",
        {"parameters": parameters},
    )
    return str(run["id"])


def test_six_syncs_over_the_api_spread_over_both_workers(cluster: Cluster) -> None:
    async def trigger_all() -> list[str]:
        project = with_own_store(cluster.project, cluster.root)
        async with running_app(project, cluster.api_url) as app, api_client(app) as admin:
            await set_up_admin(admin)
            headers = bearer_headers(await create_key(admin))
            transport = httpx.ASGITransport(app=app, client=("127.0.0.20", 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                responses = await asyncio.gather(
                    *(
                        http.post(f"/api/sources/{source}/sync", headers=headers, json={})
                        for source in SMALL_SOURCES
                    )
                )
                # One run per source at a time: a second trigger is refused, or queued.
                refused = await http.post("/api/sources/s0/sync", headers=headers, json={})
                assert refused.status_code == 409, refused.text
                assert refused.json()["code"] == "sync_running"
                queued = await http.post(
                    "/api/sources/s0/sync", headers=headers, json={"queue": True}
                )
        for response in [*responses, queued]:
            assert response.status_code == 202, response.text
        return [response.json()["run_id"] for response in [*responses, queued]]

    run_ids = asyncio.run(trigger_all())
    runs = [cluster.wait_for_state(run_id, TERMINAL, 240) for run_id in run_ids]
    assert [run["state"]["type"] for run in runs] == ["COMPLETED"] * len(runs)

    workers = {cluster.worker_of(run_id) for run_id in run_ids}
    assert workers == {"w1", "w2"}
    for source, rows in SMALL_SOURCES.items():
        assert cluster.row_stats(f"raw_{source}", "t") == (rows, rows)

    # The queued `s0` run started after the first one ended.
    first, second = sorted((runs[0], runs[-1]), key=lambda run: run["start_time"])
    assert _time(second["start_time"]) >= _time(first["end_time"])

    # Both limits are Prefect's own, where the Prefect UI shows them.
    limit = prefect_request(
        cluster.api_url, f"/v2/concurrency_limits/{writers_limit_name(cluster.project)}"
    )
    assert (limit["limit"], limit["active_slots"]) == (4, 0)
    deployment = prefect_request(cluster.api_url, "/deployments/name/sync_source/sync-s0")
    assert deployment["global_concurrency_limit"]["limit"] == 1
    assert deployment["work_pool_name"] == cluster.project.config.prefect.work_pool


def test_a_run_on_a_killed_worker_crashes_and_the_next_trigger_completes_it(
    cluster: Cluster,
) -> None:
    run_id = _trigger(cluster, "big")
    victim = cluster.worker_of(run_id)
    cluster.wait_for_state(run_id, {"RUNNING"}, 60)
    time.sleep(3)  # in the middle of the load
    cluster.kill_worker(victim)

    crashed = cluster.wait_for_state(run_id, TERMINAL, 200)
    assert crashed["state"]["type"] == "CRASHED", crashed["state"]
    assert "no heartbeat" in crashed["state"]["message"]

    rerun = _trigger(cluster, "big")
    assert cluster.wait_for_state(rerun, TERMINAL, 240)["state"]["type"] == "COMPLETED"
    assert cluster.worker_of(rerun) != victim
    assert cluster.row_stats("raw_big", "t") == (BIG_ROWS, BIG_ROWS)
    cluster.start_worker(victim)  # back to two workers


def test_a_catalog_outage_mid_run_is_retried_and_the_run_completes(cluster: Cluster) -> None:
    # New rows to merge, so the run writes to the catalog for a while.
    write_parquet(cluster.root / "data" / "big.parquet", BIG_ROWS, start=BIG_ROWS // 2)
    run_id = _trigger(cluster, "big")
    lake = cluster.lake_database
    _wait_for_catalog_session(lake, run_id, cluster)
    admin_sql(f'ALTER DATABASE "{lake}" ALLOW_CONNECTIONS false')
    try:
        admin_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{lake}' AND pid <> pg_backend_pid()"
        )
        _wait_for_task_state(cluster, run_id, "AwaitingRetry")
    finally:
        admin_sql(f'ALTER DATABASE "{lake}" ALLOW_CONNECTIONS true')

    run = cluster.wait_for_state(run_id, TERMINAL, 240)
    assert run["state"]["type"] == "COMPLETED", run["state"]
    # The table's load task (governance after the load is a task of its own).
    (task,) = [task for task in cluster.task_runs(run_id) if task["name"] == "t"]
    assert task["run_count"] >= 2
    total = BIG_ROWS + BIG_ROWS // 2
    assert cluster.row_stats("raw_big", "t") == (total, total)


def _wait_for_catalog_session(lake: str, run_id: str, cluster: Cluster) -> None:
    """Until the run has a session on the catalog database (its load began)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if admin_sql(f"SELECT 1 FROM pg_stat_activity WHERE datname = '{lake}'"):
            return
        if cluster.flow_run(run_id)["state"]["type"] in TERMINAL:
            raise AssertionError("the run ended before it wrote to the catalog")
        time.sleep(0.05)
    raise AssertionError("the run never opened the catalog")


def _wait_for_task_state(cluster: Cluster, run_id: str, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(task["state"]["name"] == name for task in cluster.task_runs(run_id)):
            return
        time.sleep(0.2)
    raise AssertionError(f"no task of run {run_id} reached {name}")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_a_worker_without_a_pool_says_how_to_name_one(tmp_path: Path) -> None:
    (tmp_path / "project.yml").write_text("project: {name: nopool}\n")
    cluster = Cluster(root=tmp_path, api_url="", lake_database="", env=dict(os.environ))
    for command in ("worker", "deploy"):
        result = cluster.headwater(command)
        assert result.returncode == 1
        assert "prefect.work_pool" in result.stderr
        assert "Traceback" not in result.stderr
