"""Benchmark `headwater sync` against DuckDB alone and a plain dlt pipeline.

    .venv/bin/python bench/bench_sync.py [--rows 1000000] [--pg-rows 1000000] [--skip-pg]

Each case runs in its own process under /usr/bin/time, so wall time and peak RSS are the
whole process's, start to exit:
  (a) DuckDB alone: CREATE TABLE in a DuckLake from read_csv
  (b) `headwater sync` of that CSV (warm local Prefect server, as users run it)
  (c) a plain dlt pipeline fed Arrow batches into the same DuckLake format
  (d) `headwater sync` of a 10-row file: the fixed cost of the command
  (e) DuckDB's postgres scanner creating the table from an N-row PostgreSQL table
  (f) `headwater sync` of that PostgreSQL table
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb

PG_URL = os.environ.get("HEADWATER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
EXTENSIONS = Path(__file__).resolve().parent.parent / ".headwater" / "duckdb_extensions"


@dataclass
class Result:
    """One measured case."""

    name: str
    seconds: float
    peak_rss_mb: float
    rows: int

    @property
    def rows_per_second(self) -> float:
        """Throughput of the case."""
        return self.rows / self.seconds if self.seconds else 0.0


def timed(name: str, rows: int, argv: list[str], cwd: Path) -> Result:
    """Run argv under /usr/bin/time; fail loudly when it fails."""
    stats = cwd / f".{name}.time"
    completed = subprocess.run(
        ["/usr/bin/time", "-o", str(stats), "-f", "%e %M", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    if completed.returncode != 0:
        sys.exit(f"{name} failed:\n{completed.stdout}\n{completed.stderr}")
    seconds, kilobytes = stats.read_text().split()[-2:]
    return Result(name, float(seconds), int(kilobytes) / 1024, rows)


def write_orders(path: Path, rows: int) -> None:
    """An orders CSV of `rows` deterministic rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        f"""COPY (SELECT i + 1 AS order_id, (hash(i) % 5000) + 1 AS customer_id,
                  TIMESTAMP '2025-01-01' + to_seconds((hash(i * 7) % 31536000)::BIGINT)
                    AS ordered_at,
                  ['placed','shipped','delivered'][(hash(i * 3) % 3)::BIGINT + 1] AS status,
                  round((hash(i * 11) % 50000) / 100.0, 2) AS amount
                FROM range({rows}) t(i)) TO '{path}' (HEADER)"""
    )


def project_yml(name: str, sources: str) -> str:
    """A project.yml using its own Prefect server port, so the demo's server is untouched."""
    return f"project:\n  name: {name}\nprefect:\n  server_port: 4290\nsources:\n{sources}"


FILES_SOURCE = """  orders:
    type: files
    tables:
      orders: {{path: {path}}}
"""

PG_SOURCE = """  pg:
    type: sql
    url: {url}
    schema: public
    tables: [{table}]
"""

DUCKDB_ALONE = """
import duckdb, sys
from headwater.warehouse.extensions import connection_config
from pathlib import Path
con = duckdb.connect(config=connection_config(Path(sys.argv[1])))
lake = sys.argv[2]
con.execute(f"ATTACH 'ducklake:sqlite:{lake}/catalog.sqlite' AS lake (DATA_PATH '{lake}/data/')")
con.execute(f"CREATE TABLE lake.orders AS SELECT * FROM {sys.argv[3]}")
"""

PLAIN_DLT = """
import dlt, duckdb, sys
from dlt.destinations.impl.ducklake.configuration import DuckLakeCredentials
from headwater.warehouse.extensions import connection_config
from pathlib import Path
credentials = DuckLakeCredentials(ducklake_name="lake", catalog=f"sqlite:///{sys.argv[2]}/catalog.sqlite",
                                  storage=Path(sys.argv[2], "data").as_uri())
credentials.global_config = connection_config(Path(sys.argv[1]))
@dlt.resource(name="orders")
def orders():
    reader = duckdb.sql(f"SELECT * FROM read_csv('{sys.argv[3]}')").fetch_record_batch(500_000)
    yield from reader
destination = dlt.destinations.ducklake(credentials=credentials)
pipeline = dlt.pipeline("plain", pipelines_dir=f"{sys.argv[2]}/pipelines",
                        destination=destination, dataset_name="raw")
pipeline.run(orders())
"""


def headwater_sync(root: Path, name: str, source: str, rows: int) -> Result:
    """Time `headwater sync SOURCE` in the project at `root`, as a user runs it."""
    return timed(
        name, rows, [sys.executable, "-m", "headwater", "sync", source, "-p", str(root)], root
    )


def main() -> None:
    """Generate the data, run every case, print the table and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pg-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="headwater-bench-"))
    csv = work / "orders.csv"
    write_orders(csv, args.rows)
    tiny = work / "tiny.csv"
    write_orders(tiny, 10)
    for case in ("a", "b", "c", "d", "e", "f"):
        (work / case).mkdir()
    (work / "b/project.yml").write_text(project_yml("bench", FILES_SOURCE.format(path=csv)))
    (work / "d/project.yml").write_text(project_yml("tiny", FILES_SOURCE.format(path=tiny)))

    from headwater.config import load_project
    from headwater.prefect_server import ensure_server
    from headwater.warehouse.extensions import ensure_extensions

    ensure_extensions(EXTENSIONS)
    ensure_server(load_project(work / "b/project.yml"))  # warm server, as users have it
    headwater_sync(work / "d", "warmup", "orders", 10)  # first sync pays bytecode + catalog

    py = sys.executable
    read_csv = f"read_csv('{csv}')"
    results = [
        timed(
            "a duckdb alone",
            args.rows,
            [py, "-c", DUCKDB_ALONE, str(EXTENSIONS), str(work / "a"), read_csv],
            work,
        ),
        headwater_sync(work / "b", "b headwater sync", "orders", args.rows),
        timed(
            "c plain dlt (arrow)",
            args.rows,
            [py, "-c", PLAIN_DLT, str(EXTENSIONS), str(work / "c"), str(csv)],
            work,
        ),
    ]
    shutil.rmtree(work / "d" / ".headwater" / "pipelines", ignore_errors=True)
    tiny_result = headwater_sync(work / "d", "d headwater sync, 10 rows", "orders", 10)
    pg_results: list[Result] = []
    if not args.skip_pg:
        pg_results = bench_postgres(work, args.pg_rows)

    print(f"\nrows: {args.rows:,} (CSV {csv.stat().st_size / 1e6:.0f} MB), cores: {os.cpu_count()}")
    print(f"{'case':32} {'seconds':>8} {'rows/s':>12} {'peak RSS MB':>12}")
    for result in [*results, tiny_result, *pg_results]:
        print(
            f"{result.name:32} {result.seconds:8.2f} {result.rows_per_second:12,.0f} "
            f"{result.peak_rss_mb:12.0f}"
        )
    a, b, c = results
    print(f"b/a = {b.seconds / a.seconds:.2f}   b/c = {b.seconds / c.seconds:.2f}")
    if pg_results:
        e, f = pg_results
        print(f"f/e = {f.seconds / e.seconds:.2f}")
    shutil.rmtree(work, ignore_errors=True)


def bench_postgres(work: Path, rows: int) -> list[Result]:
    """Cases (e) and (f) on a throwaway `rows`-row PostgreSQL table, dropped afterwards."""
    import sqlalchemy

    table = "headwater_bench_orders"
    engine = sqlalchemy.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(
            sqlalchemy.text(
                textwrap.dedent(f"""
            CREATE TABLE {table} AS SELECT g AS order_id, g % 5000 AS customer_id,
              timestamptz '2025-01-01' + g * interval '1 second' AS ordered_at,
              (ARRAY['placed','shipped','delivered'])[g % 3 + 1] AS status,
              (g % 50000) / 100.0 AS amount
            FROM generate_series(1, {rows}) g;
            ALTER TABLE {table} ADD PRIMARY KEY (order_id)""")
            )
        )
    try:
        (work / "f/project.yml").write_text(
            project_yml("pgbench", PG_SOURCE.format(url=PG_URL, table=table))
        )
        scan = f"postgres_scan('{PG_URL}', 'public', '{table}')"
        return [
            timed(
                "e duckdb postgres scanner",
                rows,
                [sys.executable, "-c", DUCKDB_ALONE, str(EXTENSIONS), str(work / "e"), scan],
                work,
            ),
            headwater_sync(work / "f", "f headwater sync (postgres)", "pg", rows),
        ]
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


if __name__ == "__main__":
    main()
