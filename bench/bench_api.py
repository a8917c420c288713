"""Load test of the REST API while a 1M-row sync writes to the warehouse.

    .venv/bin/python bench/bench_api.py [--clients 50] [--seconds 30] [--rows 1000000]

Starts `headwater serve` (local Prefect server, runner and API in their own processes)
for a throwaway project on loopback, creates an admin and an API key through the API,
syncs a small source once (its run is the one `GET /api/runs/{id}` reads), then starts
syncs of a 1M-row CSV (full refresh, queued back to back so writes go on for the whole
window) and runs N concurrent clients for S seconds against `GET /api/sources` and
`GET /api/runs/{id}`. Prints requests/s, p50 and p99 latency, non-2xx and 5xx counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import httpx

PROJECT = """
project: {{name: api_bench}}
prefect: {{server_port: {prefect_port}}}
api: {{port: {api_port}, rate_limit_per_minute: 1000000}}
sources:
  small:
    type: files
    tables:
      small: {{path: small.csv}}
  big:
    type: files
    write_disposition: replace
    tables:
      big: {{path: big.csv}}
"""
PASSWORD = "bench-password-long-enough"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_project(root: Path, rows: int) -> tuple[Path, int]:
    """project.yml and its two CSVs; returns the file and the API port."""
    api_port = free_port()
    (root / "project.yml").write_text(
        textwrap.dedent(PROJECT.format(prefect_port=free_port(), api_port=api_port)).lstrip()
    )
    (root / "small.csv").write_text("id,name\n1,a\n2,b\n")
    duckdb.sql(
        f"COPY (SELECT i AS id, 'name ' || i AS name, i * 0.5 AS amount, "
        f"TIMESTAMP '2025-01-01' + to_seconds(i) AS at FROM range({rows}) t(i)) "
        f"TO '{root / 'big.csv'}' (HEADER)"
    )
    return root / "project.yml", api_port


async def wait_for_run(http: httpx.AsyncClient, run_id: str, seconds: float = 300) -> str:
    """Poll the run until it ends; its final state."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = (await http.get(f"/api/runs/{run_id}")).json()["state"]
        if state in {"completed", "failed", "crashed", "cancelled"}:
            return str(state)
        await asyncio.sleep(0.5)
    raise SystemExit(f"run {run_id} did not finish in {seconds}s")


async def setup(base: str) -> tuple[str, str]:
    """An admin, its API key, and one finished run of `small`; returns (key, run id)."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        deadline = time.monotonic() + 180
        while True:
            try:
                if (await http.get("/api/health")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the API did not start")
            await asyncio.sleep(1)
        account = {"email": "bench@example.com", "password": PASSWORD}
        (await http.post("/api/auth/setup", json=account)).raise_for_status()
        (await http.post("/api/auth/login", json=account)).raise_for_status()
        key = (await http.post("/api/auth/api-keys", json={"name": "bench"})).json()["key"]
        http.headers["Authorization"] = f"Bearer {key}"
        for _ in range(120):  # the runner registers deployments after the API is up
            response = await http.post("/api/sources/small/sync")
            if response.status_code == 202:
                break
            await asyncio.sleep(1)
        run_id = response.json()["run_id"]
        state = await wait_for_run(http, run_id)
        if state != "completed":
            raise SystemExit(f"the small sync ended {state}")
        return key, run_id


async def _client_process(
    base: str, key: str, paths: list[str], clients: int, seconds: float, first: int
) -> tuple[list[float], dict[int | str, int]]:
    """`clients` concurrent clients in this process, alternating between `paths`."""
    latencies: list[float] = []
    statuses: dict[int | str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:
        deadline = time.monotonic() + seconds

        async def client(turn: int) -> None:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                status: int | str
                try:
                    status = (await http.get(paths[turn % 2])).status_code
                except httpx.HTTPError as exc:  # counted by kind, e.g. ReadTimeout
                    status = type(exc).__name__
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                turn += 1

        await asyncio.gather(*(client(first + i) for i in range(clients)))
    return latencies, statuses


def _run_client_process(
    base: str, key: str, paths: list[str], clients: int, seconds: float, first: int
) -> tuple[list[float], dict[int | str, int]]:
    return asyncio.run(_client_process(base, key, paths, clients, seconds, first))


def load(
    base: str, key: str, run_id: str, clients: int, processes: int, seconds: float
) -> dict[str, Any]:
    """`clients` clients spread over `processes` processes (one Python process cannot
    drive 50 connections: httpx's pool, not the server, becomes the bottleneck), each
    alternating between the two routes, for `seconds`."""
    paths = ["/api/sources", f"/api/runs/{run_id}"]
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    began = time.monotonic()
    with ProcessPoolExecutor(processes) as pool:
        futures = [
            pool.submit(_run_client_process, base, key, paths, share, seconds, i)
            for i, share in enumerate(shares)
        ]
        parts = [future.result() for future in futures]
    elapsed = time.monotonic() - began
    ordered = sorted(latency for latencies, _ in parts for latency in latencies)
    statuses: dict[int | str, int] = {}
    for _, part in parts:
        for status, count in part.items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "requests": len(ordered),
        "rps": len(ordered) / min(elapsed, seconds + 1),
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "non_2xx": sum(n for s, n in statuses.items() if not (isinstance(s, int) and s < 300)),
        "5xx": sum(n for s, n in statuses.items() if isinstance(s, int) and s >= 500),
        "errors": sum(n for s, n in statuses.items() if isinstance(s, str)),
        "statuses": statuses,
    }


async def main_async(args: argparse.Namespace, root: Path) -> None:
    """Set up, start the writes, measure, report."""
    project_file, api_port = write_project(root, args.rows)
    base = f"http://127.0.0.1:{api_port}"
    log = open(root / "serve.log", "wb")  # noqa: SIM115 - closed below
    serve = subprocess.Popen(
        [sys.executable, "-m", "headwater", "serve", "--project", str(project_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
        env={**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"},
    )
    try:
        key, run_id = await setup(base)
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as http:
            body = {"full_refresh": True, "queue": True}
            writes = [
                (await http.post("/api/sources/big/sync", json=body)).json()["run_id"]
                for _ in range(args.writes)
            ]
            while (
                writes and (await http.get(f"/api/runs/{writes[0]}")).json()["state"] != "running"
            ):
                await asyncio.sleep(0.2)
            print(
                f"{args.writes} syncs of {args.rows:,} rows queued, the first running; "
                f"{args.clients} clients in {args.processes} processes for {args.seconds:.0f}s "
                f"on {os.cpu_count()} cores",
                flush=True,
            )
            result = await asyncio.to_thread(
                load, base, key, run_id, args.clients, args.processes, args.seconds
            )
            states = [(await http.get(f"/api/runs/{w}")).json()["state"] for w in writes]
            for write in writes:
                await http.post(f"/api/runs/{write}/cancel")
        print(f"writes during the window: {states}")
        print(
            f"requests {result['requests']}  req/s {result['rps']:.0f}  "
            f"p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
            f"non-2xx {result['non_2xx']}  5xx {result['5xx']}  statuses {result['statuses']}"
        )
        goal = result["5xx"] == 0 and result["errors"] == 0 and result["p99_ms"] < 100
        print(f"goal (no 5xx, p99 < 100 ms): {'met' if goal else 'missed'}")
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()


def main() -> None:
    """Parse arguments and run the benchmark in a temp directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--processes", type=int, default=5, help="client processes")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, default=3, help="syncs queued (0: reads only)")
    parser.add_argument("--keep", action="store_true", help="keep the temp project")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="headwater-api-bench-"))
    try:
        asyncio.run(main_async(args, root))
    finally:
        if args.keep:
            print(f"project kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
