"""Sync a 1M-row orders CSV and build its downstream staging model, through the CLI.

    .venv/bin/python bench/bench_dbt.py [--rows 1000000]

(1) `headwater sync orders` on a new CSV: the sync loads it and then builds `source:orders+`
(only stg_orders here); (2) the same command again with nothing changed: the sync loads
nothing, so no dbt build starts. Wall time from process start to exit, warm local Prefect
server, as a user runs it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parent.parent

PROJECT = """project:
  name: dbtbench
prefect:
  server_port: 4290
sources:
  orders:
    type: files
    tables:
      orders: {path: orders.csv}
"""


def write_orders(path: Path, rows: int, first_id: int = 1) -> None:
    """The demo's orders columns, `rows` rows with ids from `first_id`."""
    duckdb.sql(
        f"""COPY (SELECT i + {first_id} AS order_id, (hash(i) % 5000)::BIGINT + 1 AS customer_id,
                  TIMESTAMP '2025-01-01' + to_seconds((hash(i * 7) % 31536000)::BIGINT)
                    AS ordered_at,
                  ['placed','shipped','returned'][(hash(i * 3) % 3)::BIGINT + 1] AS status,
                  round((hash(i * 11) % 50000) / 100.0, 2) AS amount, 'EUR' AS currency
                FROM range({rows}) t(i)) TO '{path}' (HEADER)"""
    )


def only_stg_orders(dbt_dir: Path) -> None:
    """Keep the staging model of orders; drop every other model of the demo project."""
    for sql in dbt_dir.glob("models/**/*.sql"):
        if sql.stem != "stg_orders":
            sql.unlink()


def sync(root: Path) -> tuple[float, str]:
    """Seconds of one `headwater sync orders`, and its output."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "headwater", "sync", "orders", "-p", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "160"},
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stdout + done.stderr)
    return seconds, done.stdout


def main() -> None:
    """Run both cases and print their wall times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="headwater-dbt-bench-"))
    (root / "project.yml").write_text(PROJECT)
    shutil.copytree(
        REPO / "dbt_project", root / "dbt_project", ignore=shutil.ignore_patterns("target", "logs")
    )
    only_stg_orders(root / "dbt_project")
    # Warm-up ids do not collide with the measured file's: the demo's unique test would fail.
    write_orders(root / "orders.csv", 10, first_id=args.rows + 1)

    from headwater.config import load_project
    from headwater.prefect_server import ensure_server

    ensure_server(load_project(root))
    sync(root)  # warm-up: creates the lake, dbt's first full parse, the view
    write_orders(root / "orders.csv", args.rows)
    changed, output = sync(root)
    assert "then built 1 dbt models downstream (stg_orders)" in output, output
    unchanged, output = sync(root)
    print(f"rows: {args.rows:,}")
    print(f"sync + build of stg_orders, new data : {changed:6.2f} s")
    print(f"same command, nothing changed         : {unchanged:6.2f} s")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
