"""Extraction speed of the SQL connector's candidate backends on a 1M-row PostgreSQL table.

Creates a throwaway table in the test database, reads it to Arrow batches with each backend
(each in a fresh process, so peak memory is its own), prints seconds, rows/s and peak RSS,
then drops the table. Run:

    /tmp/hwvenv/bin/python bench/sql_backends.py [--rows 1000000] [--chunk-size 100000]

Each backend is timed through the sql connector's own dlt resource (`backend:` in project.yml):
pyarrow (SQLAlchemy + psycopg rows to Arrow), connectorx (streaming Arrow batches; needs
`pip install connectorx`) and duckdb (DuckDB's postgres scanner, extension from its pip package).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource as resource_usage
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

PG_URL = os.environ.get("HEADWATER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("pyarrow", "connectorx", "duckdb")


def _sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def create_table(table: str, rows: int) -> None:
    """A table shaped like real source data: key, text, numeric, timestamptz, bool, nulls."""
    engine = sa.create_engine(_sa_url(PG_URL))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"CREATE TABLE {table} ("
                " id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(12, 2),"
                " quantity integer, created_at timestamptz NOT NULL, active boolean,"
                " note text)"
            )
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {table} SELECT g, 'customer ' || (g % 5000),"
                " round((random() * 10000)::numeric, 2), (g % 97)::int,"
                " timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',"
                " g % 2 = 0, CASE WHEN g % 10 = 0 THEN NULL ELSE md5(g::text) END"
                f" FROM generate_series(1, {rows}) AS g"
            )
        )
        conn.execute(sa.text(f"ANALYZE {table}"))
    engine.dispose()


def drop_table(table: str) -> None:
    """Drop the throwaway table."""
    engine = sa.create_engine(_sa_url(PG_URL))
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def _connector(root: Path, table: str, backend: str, chunk_size: int) -> Any:
    """The sql connector for `table`, as a project.yml with `backend` configures it."""
    from connectors.sql import CONNECTOR
    from headwater.config import load_project
    from headwater.config.sources import SqlSource

    (root / "project.yml").write_text(
        f"project:\n  name: bench\nsources:\n  bench:\n    type: sql\n    url: {PG_URL}\n"
        f"    backend: {backend}\n    chunk_size: {chunk_size}\n    tables: [{table}]\n"
    )
    project = load_project(root / "project.yml")
    config = project.source("bench")
    assert isinstance(config, SqlSource)
    return CONNECTOR("bench", config, project)


def run_one(table: str, backend: str, chunk_size: int) -> dict[str, float]:
    """Extract the whole table with one backend through the connector's own dlt resource:
    seconds (imports, reflection, extension install and a warm-up chunk excluded), rows and
    peak RSS in MB."""
    from headwater.warehouse.extensions import ensure_extensions

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ensure_extensions(root / ".headwater" / "duckdb_extensions")
        connector = _connector(root, table, backend, chunk_size)
        spec = connector.tables()[0]
        # One chunk first, so one-time imports and connection setup are not counted.
        sum(batch.num_rows for batch in connector.resource(spec).add_limit(1))
        start = time.perf_counter()
        resource = connector.resource(spec)
        rows = sum(batch.num_rows for batch in resource)
        seconds = time.perf_counter() - start
    peak_mb = resource_usage.getrusage(resource_usage.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_mb}


def main() -> None:
    """Create the table, time every backend in its own process, print a table, drop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2, help="runs per backend; best is kept")
    parser.add_argument("--one", nargs=2, metavar=("TABLE", "BACKEND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.chunk_size)))
        return

    table = "bench_sql_" + uuid.uuid4().hex[:8]
    print(f"creating {table} with {args.rows:,} rows in {PG_URL} ...", flush=True)
    create_table(table, args.rows)
    try:
        print(f"{'backend':<20}{'seconds':>9}{'rows/s':>12}{'peak RSS MB':>13}")
        for backend in BACKENDS:
            if backend == "connectorx" and importlib.util.find_spec("connectorx") is None:
                print(f"{backend:<20}skipped: pip install connectorx to measure it", flush=True)
                continue
            runs = []
            for _ in range(args.repeat):
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--chunk-size",
                        str(args.chunk_size),
                        "--one",
                        table,
                        backend,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            best = min(runs, key=lambda run: run["seconds"])
            assert best["rows"] == args.rows, f"{backend} read {best['rows']} rows"
            print(
                f"{backend:<20}{best['seconds']:>9.2f}{args.rows / best['seconds']:>12,.0f}"
                f"{best['peak_rss_mb']:>13,.0f}",
                flush=True,
            )
    finally:
        drop_table(table)
        print(f"dropped {table}")


if __name__ == "__main__":
    main()
