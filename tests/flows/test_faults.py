"""Kill a real `headwater sync` process mid-run; the rerun must complete with exact counts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from headwater.config import Project
from headwater.warehouse import Warehouse
from tests.conftest import MakeProject

pytestmark = pytest.mark.slow

PROJECT = """
project:
  name: faults
sources:
  big:
    type: files
    write_disposition: merge
    tables:
      events:
        path: data/events.csv
        primary_key: [id]
  small:
    type: files
    tables:
      items:
        path: data/items.csv
"""


def write_events(path: Path, rows: int, label: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        f"COPY (SELECT range + 1 AS id, '{label}' AS label, range * 0.5 AS value "
        f"FROM range({rows})) TO '{path}' (HEADER)"
    )


def headwater(project: Project, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", *args, "--project", str(project.file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )


def finish(process: subprocess.Popen[bytes]) -> str:
    output = process.communicate(timeout=300)[0].decode()
    assert process.returncode == 0, output
    return output


def counts(project: Project) -> tuple[int, int, int]:
    with Warehouse(project).reader() as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT id), count(*) FILTER (label = 'v2') "
            "FROM raw_big.events"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def kill_when(process: subprocess.Popen[bytes], pattern: str, root: Path) -> None:
    """SIGKILL `process` as soon as a path matching `pattern` exists under `root`."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if any(root.glob(pattern)):
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return
        if process.poll() is not None:
            raise AssertionError("sync finished before the kill point: " + pattern)
        time.sleep(0.01)
    raise AssertionError(f"never reached {pattern}")


@pytest.mark.parametrize(
    "kill_point",
    [
        "load/new/*/new_jobs/*",  # extracted, not yet normalized
        "load/normalized/*/started_jobs/*",  # in the middle of the load
    ],
)
def test_sync_killed_midway_keeps_old_data_and_rerun_completes(
    make_project: MakeProject, prefect_api: str, kill_point: str
) -> None:
    project = make_project(PROJECT)
    events = project.root / "data/events.csv"
    write_events(events, 200_000, "v1")
    finish(headwater(project, "sync", "big"))
    assert counts(project) == (200_000, 200_000, 0)

    write_events(events, 400_000, "v2")
    pipeline_dir = project.state_dir / "pipelines" / "hw_big"
    kill_when(headwater(project, "sync", "big"), kill_point, pipeline_dir)
    assert counts(project) == (200_000, 200_000, 0), "the old rows must stay visible"

    finish(headwater(project, "sync", "big"))
    assert counts(project) == (400_000, 400_000, 400_000)
    finish(headwater(project, "sync", "big"))
    assert counts(project) == (400_000, 400_000, 400_000)


def test_two_sources_sync_at_the_same_time(make_project: MakeProject, prefect_api: str) -> None:
    project = make_project(PROJECT)
    write_events(project.root / "data/events.csv", 100_000, "v1")
    (project.root / "data/items.csv").write_text("sku,qty\na,1\nb,2\nc,3\n")
    first = headwater(project, "sync", "big")
    second = headwater(project, "sync", "small")
    finish(first)
    finish(second)
    with Warehouse(project).reader() as conn:
        assert conn.execute("SELECT count(*) FROM raw_big.events").fetchone() == (100_000,)
        assert conn.execute("SELECT count(*) FROM raw_small.items").fetchone() == (3,)


def test_a_package_left_by_a_dead_machine_does_not_overwrite_a_newer_load(
    tmp_path: Path,
) -> None:
    """Two checkouts ("machines") share one warehouse and one source file. Machine A dies
    after extracting version 1; machine B then loads version 2; when A runs again, its old
    package must not put version 1 back."""
    from connectors import connector_for
    from flows.loading import _as_source, finish_pending, load_table, pipeline_for
    from headwater.config import load_project

    source_file = tmp_path / "shared" / "events.csv"
    lake = tmp_path / "shared" / "lake"
    machines = []
    for name in ("a", "b"):
        root = tmp_path / name
        root.mkdir()
        (root / "project.yml").write_text(
            "project: {name: two_machines}\n"
            f"warehouse: {{catalog: {{path: {lake}/catalog.sqlite}}, data_path: {lake}/data}}\n"
            "sources:\n  big:\n    type: files\n    write_disposition: merge\n"
            f"    tables:\n      events: {{path: {source_file}, primary_key: [id]}}\n"
        )
        machines.append(load_project(root))
    a, b = machines

    write_events(source_file, 100, "v1")
    connector = connector_for(a, "big")
    pipeline = pipeline_for(a, "big")
    pipeline.extract(_as_source("big", connector.resource(connector.tables()[0], None)))
    pipeline.normalize()  # ... and machine A dies before loading

    write_events(source_file, 100, "v2")
    time.sleep(0.01)
    load_table(b, connector_for(b, "big"), connector_for(b, "big").tables()[0])

    # A's next run first finishes what it left: the superseded package is dropped.
    leftover = pipeline_for(a, "big")
    assert finish_pending(a, leftover) == 0
    assert not leftover.has_pending_data
    with Warehouse(a).reader() as conn:
        labels = conn.execute("SELECT label, count(*) FROM raw_big.events GROUP BY 1").fetchall()
    assert labels == [("v2", 100)]
