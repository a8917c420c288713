"""Benchmark CDC: cost per 100k changes against table size, and commit-to-visible lag.

    .venv/bin/python bench/bench_cdc.py [--sizes 1000000 10000000] [--changes 100000]
                                        [--rate 1000] [--seconds 60] [--skip-merge] [--skip-lag]

(1) For each table size N: a PostgreSQL table of N rows is snapshotted into a fresh
    warehouse, then `--changes` mixed changes (40% insert, 50% update, 10% delete, in
    transactions of 1,000) are committed in the source and applied with the replicator's
    batches (`batch_changes` 100,000, as configured by default). Prints seconds per 100k
    changes: the goal is that the largest table costs at most 2x the smallest.
(2) Continuous mode: a writer commits `--rate` changes per second for `--seconds` seconds,
    in transactions of 100 that each stamp one row of a `ticks` table with its commit time;
    the replicator runs its continuous loop (poll every `poll_seconds`, 1 s by default) in
    another process, and a watcher polls the warehouse every 50 ms. Lag = when a tick was
    first visible in the warehouse - when its transaction committed. Prints median and p99;
    goal: p99 under 10 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.postgres_cdc.replicator import Replicator  # noqa: E402
from headwater.config import load_project  # noqa: E402
from headwater.warehouse import Warehouse  # noqa: E402

PG_URL = os.environ.get("HEADWATER_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

CONTINUOUS = """
import sys, time
from connectors.postgres_cdc.replicator import Replicator
from headwater.config import load_project
replicator = Replicator(load_project(sys.argv[1]), sys.argv[2])
replicator.prepare()
print("ready", flush=True)
while True:  # the flow's continuous loop: apply, and pause when caught up
    if replicator.run_batch().drained:
        time.sleep(replicator.config.poll_seconds)
"""


def project(work: Path, source: str, schema: str, extra: str = "") -> Path:
    """A project replicating every table of `schema`."""
    file = work / "project.yml"
    file.write_text(
        f"project:\n  name: bench_cdc\nsources:\n  {source}:\n    type: postgres_cdc\n"
        f"    url: {PG_URL}\n    schema: {schema}\n{extra}"
    )
    return file


def drop(pg: psycopg.Connection, source: str, schema: str) -> None:
    """Remove the slot, publication and schema of a run."""
    for (slot,) in pg.execute(
        "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s",
        (f"headwater_{source}%",),
    ).fetchall():
        pg.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    pg.execute(f'DROP PUBLICATION IF EXISTS "headwater_{source}"')
    pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def merge_case(pg: psycopg.Connection, size: int, changes: int) -> tuple[float, float]:
    """(snapshot seconds, seconds per 100k changes) for a table of `size` rows."""
    source = "bench_" + uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="headwater-bench-cdc-"))
    pg.execute(f'CREATE SCHEMA "{source}"')
    try:
        pg.execute(
            f'CREATE TABLE "{source}".orders (id bigint PRIMARY KEY, customer integer, '
            "status text, amount numeric(12,2), updated_at timestamptz)"
        )
        pg.execute(
            f'INSERT INTO "{source}".orders SELECT g, g % 5000, '
            "(ARRAY['placed','shipped','delivered'])[g % 3 + 1], (g % 50000) / 100.0, "
            f"now() FROM generate_series(1, {size}) g"
        )
        pg.execute(f'VACUUM ANALYZE "{source}".orders')
        replicator = Replicator(load_project(project(work, source, source)), source)
        started = time.perf_counter()
        replicator.prepare()
        snapshot_seconds = time.perf_counter() - started
        _write_changes(pg, source, size, changes)
        started = time.perf_counter()
        applied = 0
        while True:
            result = replicator.run_batch()
            applied += result.changes
            if result.drained:
                break
        seconds = time.perf_counter() - started
        assert applied == changes, f"applied {applied} of {changes} changes"
        _check_counts(pg, replicator, source)
        return snapshot_seconds, seconds * 100_000 / changes
    finally:
        drop(pg, source, source)


def _write_changes(pg: psycopg.Connection, schema: str, size: int, changes: int) -> None:
    """`changes` changes: per transaction of 1,000, 400 inserts, 500 updates, 100 deletes
    of random existing keys (each key touched at most once, so every change counts)."""
    per = 1000
    next_id = size + 1
    for start in range(0, changes, per):
        offset = start // per
        with pg.transaction():
            pg.execute(
                f"INSERT INTO \"{schema}\".orders SELECT g, 1, 'placed', 1.00, now() "
                f"FROM generate_series({next_id}, {next_id + 399}) g"
            )
            next_id += 400
            # Disjoint strided keys: updates and deletes never hit the same row twice.
            pg.execute(
                f"UPDATE \"{schema}\".orders SET status = 'shipped', amount = amount + 1 "
                f"WHERE id IN (SELECT 1 + ((g * 7919) % {size}) "
                f"FROM generate_series({offset * 600}, {offset * 600 + 499}) g)"
            )
            pg.execute(
                f'DELETE FROM "{schema}".orders WHERE id IN (SELECT 1 + ((g * 7919) % {size}) '
                f"FROM generate_series({offset * 600 + 500}, {offset * 600 + 599}) g)"
            )


def _check_counts(pg: psycopg.Connection, replicator: Replicator, schema: str) -> None:
    row = pg.execute(f'SELECT count(*), sum(amount) FROM "{schema}".orders').fetchone()
    with Warehouse(replicator.project).reader() as conn:
        mine = conn.execute(f'SELECT count(*), sum(amount) FROM "raw_{schema}".orders').fetchone()
    assert row == mine, f"source {row} != warehouse {mine}"


def lag_case(pg: psycopg.Connection, rate: int, seconds: int) -> list[float]:
    """Lags (seconds) of every tick written at `rate` changes/s for `seconds` seconds."""
    source = "lag_" + uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="headwater-bench-cdc-"))
    pg.execute(f'CREATE SCHEMA "{source}"')
    pg.execute(f'CREATE TABLE "{source}".items (id bigint PRIMARY KEY, v integer)')
    pg.execute(f'CREATE TABLE "{source}".ticks (seq integer PRIMARY KEY, at double precision)')
    pg.execute(f'INSERT INTO "{source}".items SELECT g, 0 FROM generate_series(1, 100000) g')
    file = project(work, source, source)
    runner = subprocess.Popen(
        [sys.executable, "-c", CONTINUOUS, str(file), source], stdout=subprocess.PIPE, cwd=ROOT
    )
    try:
        assert runner.stdout is not None and runner.stdout.readline().strip() == b"ready"
        committed: dict[int, float] = {}
        seen: dict[int, float] = {}
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(file, source, seen, stop))
        watcher.start()
        writer = psycopg.connect(PG_URL, autocommit=True)
        per_txn = 100
        interval = per_txn / rate
        started = time.monotonic()
        seq = 0
        while time.monotonic() - started < seconds:
            due = started + seq * interval
            time.sleep(max(0.0, due - time.monotonic()))
            with writer.transaction():
                writer.execute(
                    f'UPDATE "{source}".items SET v = v + 1 WHERE id BETWEEN %s AND %s',
                    (seq * 99 % 99000 + 1, seq * 99 % 99000 + per_txn - 1),
                )
                writer.execute(f'INSERT INTO "{source}".ticks VALUES (%s, 0)', (seq,))
            committed[seq] = time.time()
            seq += 1
        deadline = time.monotonic() + 60
        while len(seen) < len(committed) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        watcher.join()
        writer.close()
        missing = len(committed) - len(seen)
        assert missing == 0, f"{missing} ticks never became visible"
        return [seen[s] - committed[s] for s in committed]
    finally:
        runner.kill()
        runner.wait()
        drop(pg, source, source)


def _watch(file: Path, source: str, seen: dict[int, float], stop: threading.Event) -> None:
    """Note when each tick first shows in the warehouse."""
    warehouse = Warehouse(load_project(file))
    with warehouse.reader() as conn:
        while not stop.is_set():
            now = time.time()
            try:
                rows = conn.execute(f'SELECT seq FROM "raw_{source}".ticks').fetchall()
            except Exception:  # the table appears with the first snapshot
                rows = []
            for (seq,) in rows:
                seen.setdefault(seq, now)
            time.sleep(0.05)


def main() -> None:
    """Run the cases and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--skip-merge", action="store_true")
    parser.add_argument("--skip-lag", action="store_true")
    args = parser.parse_args()
    pg = psycopg.connect(PG_URL, autocommit=True)
    if not args.skip_merge:
        costs = {}
        print("| table rows | snapshot s | s per 100k changes |")
        print("|---:|---:|---:|")
        for size in args.sizes:
            snapshot, cost = merge_case(pg, size, args.changes)
            costs[size] = cost
            print(f"| {size:,} | {snapshot:.1f} | {cost:.2f} |", flush=True)
        smallest, largest = min(costs), max(costs)
        print(
            f"ratio {largest:,} / {smallest:,} rows: "
            f"{costs[largest] / costs[smallest]:.2f}x (goal <= 2x)"
        )
    if not args.skip_lag:
        lags = sorted(lag_case(pg, args.rate, args.seconds))
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        print(
            f"continuous, {args.rate} changes/s for {args.seconds}s, {len(lags)} ticks: "
            f"lag median {statistics.median(lags):.2f}s, p99 {p99:.2f}s, max {lags[-1]:.2f}s "
            "(goal p99 < 10s)"
        )


if __name__ == "__main__":
    main()
