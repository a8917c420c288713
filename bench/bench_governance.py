"""What governance and consoles cost: a sync with and without its after-load checks, and
a console over the synced table against DuckDB running the same SQL.

    .venv/bin/python bench/bench_governance.py [--rows 1000000]

Each case runs in its own process under /usr/bin/time (wall seconds and peak RSS of the
whole process), against a warm local Prefect server, as users run them:
  (a) `headwater sync` with governance off (no drift check, PII scan or profile)
  (b) `headwater sync` with drift check and PII scan, no profile
  (c) `headwater sync` with every default: drift, PII scan and a profile of the table
  (d) DuckDB alone: the console's SQL over the synced table, read-only
  (e) `headwater consoles run`: the same SQL as a run_console flow run, with assertions, a
      materialized table and a Parquet export
Each sync case gets its own fresh project, so every one is a first (full) load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
from bench_sync import EXTENSIONS, Result, project_yml, timed

CONSOLE_SQL = (
    "SELECT status, count(*) AS orders, sum(amount) AS revenue, count(DISTINCT email) AS "
    "customers FROM raw_orders.orders GROUP BY status ORDER BY status"
)

GOVERNANCE = {
    "a": "governance: {drift_checks: false, pii_scan: false, profile_after_sync: false}\n",
    "b": "governance: {profile_after_sync: false}\n",
    "c": "",
}

SOURCE = """  orders:
    type: files
    tables:
      orders: {{path: {path}, primary_key: [order_id]}}
consoles:
  by_status:
    sql: "{sql}"
    materialize: true
    export: {{path: exports/by_status.parquet}}
    assertions: {{min_rows: 1, not_null: [status], expression: "revenue >= 0"}}
"""

DUCKDB_QUERY = """
import sys, time
from headwater.config import load_project
from headwater.warehouse import Warehouse
with Warehouse(load_project(sys.argv[1])).reader() as conn:
    print(conn.execute(sys.argv[2]).fetchall())
"""


def write_orders(path: Path, rows: int) -> None:
    """Orders with an email and a phone column per customer, so the PII scan finds both."""
    duckdb.sql(
        f"""COPY (SELECT i + 1 AS order_id,
                  'customer' || (hash(i) % 50000) || '@example.com' AS email,
                  '+3519' || lpad(((hash(i) % 50000) + 10000000)::VARCHAR, 8, '0') AS phone,
                  ['placed','shipped','delivered'][(hash(i * 3) % 3)::BIGINT + 1] AS status,
                  round((hash(i * 11) % 50000) / 100.0, 2) AS amount
                FROM range({rows}) t(i)) TO '{path}' (HEADER)"""
    )


def main() -> None:
    """Generate the data, run every case, print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="headwater-bench-gov-"))
    csv = work / "orders.csv"
    write_orders(csv, args.rows)
    for case, governance in GOVERNANCE.items():
        (work / case).mkdir()
        sources = SOURCE.format(path=csv, sql=CONSOLE_SQL)
        (work / case / "project.yml").write_text(
            project_yml(f"gov_{case}", sources) + governance
        )

    from headwater.config import load_project
    from headwater.prefect_server import ensure_server
    from headwater.warehouse.extensions import ensure_extensions

    ensure_extensions(EXTENSIONS)
    ensure_server(load_project(work / "a/project.yml"))  # warm server, as users have it
    py = sys.executable
    results: list[Result] = []
    for case, label in (("a", "governance off"), ("b", "drift + PII"), ("c", "defaults")):
        argv = [py, "-m", "headwater", "sync", "orders", "-p", str(work / case)]
        results.append(timed(f"{case} sync, {label}", args.rows, argv, work / case))
    project_c = str(work / "c/project.yml")
    results.append(
        timed("d duckdb alone, console SQL", args.rows, [py, "-c", DUCKDB_QUERY, project_c,
                                                         CONSOLE_SQL], work)
    )
    consoles_run = [py, "-m", "headwater", "consoles", "run", "by_status", "-p", project_c]
    results.append(timed("e headwater consoles run", args.rows, consoles_run, work / "c"))

    print(f"\nrows: {args.rows:,}, cores: {os.cpu_count()}")
    print(f"{'case':32} {'seconds':>8} {'peak RSS MB':>12}")
    for result in results:
        print(f"{result.name:32} {result.seconds:8.2f} {result.peak_rss_mb:12.0f}")
    a, b, c, d, e = results
    print(
        f"b/a = {b.seconds / a.seconds:.2f}   c/a = {c.seconds / a.seconds:.2f}   "
        f"governance adds {b.seconds - a.seconds:.2f} s (drift + PII), "
        f"{c.seconds - a.seconds:.2f} s (with profile)   e - d = {e.seconds - d.seconds:.2f} s"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
