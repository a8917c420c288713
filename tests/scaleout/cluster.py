"""A scale-out Headwater on this machine: a Prefect server on one PostgreSQL database, the
DuckLake catalog on another, and `headwater worker` processes on a process work pool."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy

from headwater.config import Project, load_project
from headwater.prefect_server import QUIET_PREFECT_ENV, wait_until_healthy
from headwater.processes import kill_tree, stop_tree
from headwater.runs import prefect_request
from tests.conftest import PG_URL, free_port

LAKE_ENV = "HW_SCALEOUT_LAKE_URL"
"""The env var project.yml names for the catalog URL."""

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def admin_engine() -> sqlalchemy.Engine:
    """An autocommit engine on the test server's maintenance database."""
    url = PG_URL.replace("postgresql://", "postgresql+psycopg://", 1).rsplit("/", 1)[0]
    return sqlalchemy.create_engine(f"{url}/postgres", isolation_level="AUTOCOMMIT")


def admin_sql(sql: str) -> list[Any]:
    """Run `sql` as the server's superuser; its rows."""
    engine = admin_engine()
    try:
        with engine.connect() as conn:
            result = conn.execute(sqlalchemy.text(sql))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


@contextmanager
def database(prefix: str) -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards; yields its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin_sql(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def libpq_url(name: str) -> str:
    """libpq URL of database `name` on the test server."""
    return f"{PG_URL.rsplit('/', 1)[0]}/{name}"


def write_parquet(path: Path, rows: int, start: int = 0) -> None:
    """`rows` rows with ids start..start+rows-1, a label and an amount."""
    ids = pa.array(range(start, start + rows), pa.int64())
    table = pa.table(
        {
            "id": ids,
            "label": pa.array([f"row {i}" for i in range(start, start + rows)]),
            "amount": pa.compute.multiply(ids, 0.5),
        }
    )
    pq.write_table(table, path)


@dataclass
class Cluster:
    """The servers, the project and the running workers."""

    root: Path
    """Project directory (project.yml, data files, logs)."""
    api_url: str
    """The PostgreSQL-backed Prefect server's API."""
    lake_database: str
    """Database holding the DuckLake catalog."""
    env: dict[str, str]
    """Environment of every Headwater process of the cluster."""
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    """Running `headwater worker` processes by name."""

    @property
    def project(self) -> Project:
        """The cluster's project (read with the catalog env var set)."""
        return load_project(self.root)

    def headwater(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run `headwater ARGS --project ROOT` in the cluster's environment."""
        return subprocess.run(
            [sys.executable, "-m", "headwater", *args, "--project", str(self.root)],
            env=self.env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def start_worker(self, name: str, limit: int = 2) -> None:
        """Start `headwater worker --name NAME` in its own session."""
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the worker writes it
        self.workers[name] = subprocess.Popen(
            [sys.executable, "-m", "headwater", "worker", "--project", str(self.root),
             "--name", name, "--limit", str(limit)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()

    def kill_worker(self, name: str) -> None:
        """SIGKILL worker `name` and its flow-run processes, as when its machine dies."""
        process = self.workers.pop(name)
        kill_tree(process.pid)
        process.wait(timeout=30)

    def stop_workers(self) -> None:
        """Stop every worker and what it started."""
        for name in list(self.workers):
            self.kill_worker(name)

    def worker_log(self, name: str) -> str:
        """The last lines of worker `name`'s output."""
        path = self.root / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-40:])

    def flow_run(self, run_id: str) -> dict[str, Any]:
        """Flow run `run_id` as the Prefect API has it."""
        run: dict[str, Any] = prefect_request(self.api_url, f"/flow_runs/{run_id}")
        return run

    def wait_for_state(self, run_id: str, states: set[str], seconds: float) -> dict[str, Any]:
        """Poll the run until its state type is one of `states`."""
        deadline = time.monotonic() + seconds
        run = self.flow_run(run_id)
        while time.monotonic() < deadline:
            run = self.flow_run(run_id)
            if run["state"]["type"] in states:
                return run
            time.sleep(0.5)
        logs = "\n".join(self.worker_log(name) for name in self.workers)
        raise AssertionError(f"run {run_id} stayed {run['state']} past {seconds:.0f}s\n{logs}")

    def worker_of(self, run_id: str, seconds: float = 30) -> str:
        """The worker that took flow run `run_id` (from its submitted-flow-run event)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if name := self.submitted_by().get(run_id):
                return name
            time.sleep(0.5)
        raise AssertionError(f"no worker took flow run {run_id}")

    def submitted_by(self) -> dict[str, str]:
        """Flow run id -> name of the worker that submitted it, from Prefect's events."""
        body = {"filter": {"event": {"name": ["prefect.worker.submitted-flow-run"]}}, "limit": 50}
        taken: dict[str, str] = {}
        for event in prefect_request(self.api_url, "/events/filter", body)["events"]:
            worker = event["resource"]["prefect.resource.name"]
            for related in event["related"]:
                if related["prefect.resource.role"] == "flow-run":
                    run_id = related["prefect.resource.id"].removeprefix("prefect.flow-run.")
                    taken[run_id] = worker
        return taken

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        """The task runs of flow run `run_id`."""
        body = {"flow_runs": {"id": {"any_": [run_id]}}}
        runs: list[dict[str, Any]] = prefect_request(self.api_url, "/task_runs/filter", body)
        return runs

    def row_stats(self, schema: str, table: str) -> tuple[int, int]:
        """(rows, distinct ids) of a warehouse table."""
        from headwater.warehouse import Warehouse

        with Warehouse(self.project).reader() as conn:
            row = conn.execute(f"SELECT count(*), count(DISTINCT id) FROM {schema}.{table}")
            rows, distinct = row.fetchone() or (0, 0)
        return int(rows), int(distinct)


@contextmanager
def prefect_server_on_postgres(home: Path) -> Iterator[str]:
    """A Prefect server whose database is a fresh PostgreSQL database; yields its API URL."""
    with database("hw_prefect") as name:
        port = free_port()
        env = {**os.environ, **QUIET_PREFECT_ENV, "PREFECT_HOME": str(home)}
        env.pop("PREFECT_API_URL", None)
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
            f"postgresql+asyncpg://{PG_URL.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
        )
        log_file = home / "server.log"
        home.mkdir(parents=True, exist_ok=True)
        with open(log_file, "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                 "--port", str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}/api"
        try:
            wait_until_healthy(url, 120, log_file)
            yield url
        finally:
            stop_tree([server], grace=30)


def write_project(root: Path, api_url: str, sources: dict[str, int]) -> None:
    """project.yml with one merge-on-id files source per entry of `sources` (name -> rows),
    a PostgreSQL catalog, and the work pool `hw-scaleout-<random>`."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    blocks = []
    for name, rows in sources.items():
        write_parquet(root / "data" / f"{name}.parquet", rows)
        blocks.append(
            f"  {name}:\n    type: files\n    write_disposition: merge\n    tables:\n"
            f"      t: {{path: data/{name}.parquet, primary_key: [id]}}\n"
        )
    (root / "project.yml").write_text(
        textwrap.dedent(f"""\
            project: {{name: scaleout_{uuid.uuid4().hex[:6]}}}
            warehouse:
              catalog: {{type: postgres, url_env: {LAKE_ENV}}}
            prefect:
              api_url: {api_url}
              work_pool: hw-scaleout-{uuid.uuid4().hex[:6]}
              crash_after_seconds: 60
            sources:
            """)
        + "".join(blocks)
    )
