"""Benchmark scale-out: the same file syncs run by one Prefect worker, then by two.

    .venv/bin/python bench/bench_scaleout.py [--rows 1000000] [--sources 8]

A throwaway setup, all removed at the end (also on failure or Ctrl-C): two new PostgreSQL
databases (the Prefect server's and the DuckLake catalog's), a Prefect server on a free
port backed by the first, and a project of `--sources` files sources `s0`.. each loading
one Parquet file of `--rows` rows (int id, string, float, timestamp) into `raw_s<i>.t`
(replace), `warehouse.max_writers: 2`, registered on a new work pool with `headwater deploy`.

For 1 and then 2 workers (`headwater worker --limit 1` each, one flow run at a time), one
full-refresh run per source is created at once over the REST API. Wall time = the last
run's `end_time` (as Prefect recorded it) - the moment before the first run was created,
so the pickup latency of the workers (they poll every 2 s) is included. Both rounds load
every row; the warehouse row counts are checked after each. Prints wall time, rows/s, the
mean run duration (start to end of one run) and the speed-up with the machine's core count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from headwater.prefect_server import is_healthy  # noqa: E402
from headwater.processes import stop_tree  # noqa: E402
from headwater.runs import parse_time, prefect_request  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432"
LAKE_ENV = "HW_BENCH_LAKE_URL"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT = 3600.0
Popen = subprocess.Popen[bytes]
PROJECT = """project:
  name: bench_scaleout
warehouse:
  catalog: {{type: postgres, url_env: {lake_env}}}
  max_writers: 2
prefect:
  api_url: http://127.0.0.1:{port}/api
  work_pool: {pool}
sources:
"""
SOURCE = """  s{i}:
    type: files
    write_disposition: replace
    tables:
      t: {{path: data/s{i}.parquet, primary_key: [id]}}
"""


def admin(sql: str) -> None:
    """Run `sql` on the cluster's `postgres` database (CREATE/DROP DATABASE)."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(sql.encode())


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return f"--- {path.name} ---\n" + "\n".join(text.splitlines()[-lines:])


def write_project(work: Path, rows: int, sources: int, port: int, pool: str) -> None:
    """One Parquet file of `rows` rows per source, and the project.yml."""
    ids = pa.array(range(rows), pa.int64())
    table = pa.table({
        "id": ids,
        "name": pc.binary_join_element_wise(
            "customer-", pc.cast(pc.bit_wise_and(ids, 4095), pa.string()), ""),
        "amount": pc.divide(pc.cast(pc.bit_wise_and(ids, 65535), pa.float64()), 100.0),
        "created_at": pc.cast(pc.add(ids, 1_700_000_000), pa.timestamp("s")),
    })  # fmt: skip
    (work / "data").mkdir()
    text = PROJECT.format(lake_env=LAKE_ENV, port=port, pool=pool)
    for i in range(sources):
        pq.write_table(table, work / "data" / f"s{i}.parquet")
        text += SOURCE.format(i=i)
    (work / "project.yml").write_text(text)


def wait_for(check: Callable[[], Any], what: str, watched: list[Popen], logs: list[Path],
             seconds: float = 120) -> Any:  # fmt: skip
    """Poll `check` until it returns something truthy; fail loudly, with the logs' tails,
    when one of `watched` exits or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and all(p.poll() is None for p in watched):
        if result := check():
            return result
        time.sleep(0.5)
    logs_text = "\n".join(tail(log) for log in logs)
    sys.exit(
        f"gave up waiting for {what} (a process exited or {seconds:.0f} s passed)\n{logs_text}"
    )


def online(api: str, pool: str, names: list[str], since: datetime) -> bool:
    """Whether every worker in `names` has sent a heartbeat after `since`."""
    seen = prefect_request(api, f"/work_pools/{pool}/workers/filter", {})
    beats = {w["name"]: parse_time(w.get("last_heartbeat_time")) for w in seen}
    return all((beat := beats.get(name)) and beat > since for name in names)


def run_round(api: str, deployments: list[str], workers: list[Popen],
              logs: list[Path]) -> tuple[float, float]:  # fmt: skip
    """Create one full-refresh run per deployment at once and wait for all of them;
    (wall seconds from creation to the last end_time, mean seconds per run)."""
    created = datetime.now(UTC)
    body = {"parameters": {"full_refresh": True}}
    ids = [
        prefect_request(api, f"/deployments/{d}/create_flow_run", body)["id"] for d in deployments
    ]

    def finished() -> list[dict[str, Any]] | None:
        query = {"flow_runs": {"id": {"any_": ids}}, "limit": 200}
        runs: list[dict[str, Any]] = prefect_request(api, "/flow_runs/filter", query)
        done = len(runs) == len(ids) and all(r["state_type"] in TERMINAL for r in runs)
        return runs if done else None

    runs: list[dict[str, Any]] = wait_for(finished, "the runs", workers, logs, RUN_TIMEOUT)
    if failed := [r for r in runs if r["state_type"] != "COMPLETED"]:
        states = "\n".join(
            f"{r['name']}: {r['state_type']} {r['state']['message']}" for r in failed
        )
        sys.exit(f"runs failed:\n{states}\n" + "\n".join(tail(log) for log in logs))
    ends = [parse_time(r["end_time"]) for r in runs]
    starts = [parse_time(r["start_time"]) for r in runs]
    wall = (max(e for e in ends if e) - created).total_seconds()
    durations = [(e - s).total_seconds() for s, e in zip(starts, ends, strict=True) if s and e]
    return wall, sum(durations) / len(durations)


def check_counts(work: Path, rows: int, sources: int) -> None:
    """Every source's table holds exactly `rows` rows."""
    from headwater.config import load_project
    from headwater.warehouse import Warehouse

    warehouse = Warehouse(load_project(work / "project.yml"))
    with warehouse.reader() as conn:
        counts = warehouse.row_counts(conn)
    wrong = {f"raw_s{i}.t": counts.get((f"raw_s{i}", "t")) for i in range(sources)}
    wrong = {table: n for table, n in wrong.items() if n != rows}
    if wrong:
        sys.exit(f"expected {rows:,} rows in every table; got {wrong}")


def main() -> None:
    """Set everything up, run both rounds, print the table, tear everything down."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sources", type=int, default=8)
    args = parser.parse_args()
    # A SIGTERM or SIGHUP unwinds like Ctrl-C, so the cleanup below runs.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda number, _frame: sys.exit(128 + number))

    tag = uuid.uuid4().hex[:8]
    prefect_db, lake_db = f"hw_bench_prefect_{tag}", f"hw_bench_lake_{tag}"
    work = Path(tempfile.mkdtemp(prefix="headwater-bench-scaleout-"))
    port, pool = free_port(), f"bench-scaleout-{tag}"
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(work / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        LAKE_ENV: f"{PG}/{lake_db}",
    }
    os.environ[LAKE_ENV] = env[LAKE_ENV]
    created: list[str] = []
    running: list[Popen] = []
    results: list[tuple[int, float, float]] = []
    try:
        for db in (prefect_db, lake_db):
            admin(f'CREATE DATABASE "{db}"')
            created.append(db)
        server_log = work / "server.log"
        with server_log.open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start",
                 "--host", "127.0.0.1", "--port", str(port)],
                env={**env, "PREFECT_API_DATABASE_CONNECTION_URL":
                     f"postgresql+asyncpg://postgres@127.0.0.1:5432/{prefect_db}"},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=work,
            )  # fmt: skip
        running.append(server)
        write_project(work, args.rows, args.sources, port, pool)
        wait_for(lambda: is_healthy(api), "the Prefect server", [server], [server_log])
        deploy = subprocess.run(
            [sys.executable, "-m", "headwater", "deploy", "--project", str(work)],
            env=env, cwd=work, capture_output=True, text=True,
        )  # fmt: skip
        if deploy.returncode != 0:
            sys.exit(f"headwater deploy failed:\n{deploy.stdout}\n{deploy.stderr}")
        names = [f"sync-s{i}" for i in range(args.sources)]
        query = {"deployments": {"name": {"any_": names}}}
        found = prefect_request(api, "/deployments/filter", query)
        if sorted(d["name"] for d in found) != sorted(names):
            sys.exit(f"expected deployments {names}, found {[d['name'] for d in found]}")
        deployments = [d["id"] for d in found]

        for count in (1, 2):
            since = datetime.now(UTC)
            workers, logs = [], [work / f"worker-{count}-{i}.log" for i in range(count)]
            for i, path in enumerate(logs):
                with path.open("wb") as log:
                    workers.append(subprocess.Popen(
                        [sys.executable, "-m", "headwater", "worker", "--project", str(work),
                         "--name", f"bench-w{i}", "--limit", "1"],
                        env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True,
                    ))  # fmt: skip
                running.append(workers[-1])
            check = partial(online, api, pool, [f"bench-w{i}" for i in range(count)], since)
            wait_for(check, "the workers", workers, logs)
            time.sleep(2)  # one more poll cycle, so every worker is in its polling loop
            wall, mean_run = run_round(api, deployments, workers, logs)
            print(f"{count} worker(s): {wall:.1f} s, mean run {mean_run:.1f} s", flush=True)
            stop_tree(workers)
            running = [p for p in running if p not in workers]
            check_counts(work, args.rows, args.sources)
            results.append((count, wall, mean_run))
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        stop_tree(running)
        for db in created:
            admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)

    total = args.rows * args.sources
    cores = os.cpu_count()
    print(f"\n{args.sources} syncs of {args.rows:,} rows ({total:,} rows), {cores} cores")
    print(f"{'workers':>7} | {'wall s':>7} | {'rows/s':>9} | {'mean run s':>10}")
    for count, wall, mean_run in results:
        print(f"{count:>7} | {wall:>7.1f} | {total / wall:>9,.0f} | {mean_run:>10.1f}")
    speedup = results[0][1] / results[1][1]
    print(f"speed-up (2 workers / 1 worker): {speedup:.2f}x on {cores} cores")


if __name__ == "__main__":
    main()
