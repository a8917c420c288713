"""The DuckLake warehouse: offline extensions, snapshot isolation across processes, locking."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from headwater.errors import WarehouseLockTimeoutError
from headwater.warehouse import Warehouse
from tests.conftest import MakeProject

PROJECT = """
project:
  name: wh
warehouse:
  write_lock_timeout_seconds: 1
"""


def test_extensions_load_from_the_project_directory_not_the_internet(
    make_project: MakeProject,
) -> None:
    warehouse = Warehouse(make_project(PROJECT))
    with warehouse.reader() as conn:
        rows = conn.execute(
            "SELECT extension_name, install_path FROM duckdb_extensions() WHERE loaded "
            "AND extension_name = 'ducklake'"
        ).fetchall()
        autoinstall = conn.execute("SELECT current_setting('autoinstall_known_extensions')")
        assert autoinstall.fetchone() == (False,)
    assert len(rows) == 1
    assert Path(rows[0][1]).is_relative_to(warehouse.extension_dir)


def test_reader_session_cannot_write(make_project: MakeProject) -> None:
    warehouse = Warehouse(make_project(PROJECT))
    with warehouse.reader() as conn, pytest.raises(Exception, match="read-only"):
        conn.execute("CREATE TABLE t AS SELECT 1 AS a")


WRITER_SCRIPT = """
import sys, time
from pathlib import Path
from headwater.config import load_project
from headwater.warehouse import Warehouse

warehouse = Warehouse(load_project(sys.argv[1]))
signal = Path(sys.argv[2])
with warehouse.writer() as conn:
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw_demo")
    conn.execute("CREATE TABLE raw_demo.items AS SELECT range AS id FROM range(1000)")
    conn.execute("BEGIN")
    conn.execute("INSERT INTO raw_demo.items SELECT range + 1000 FROM range(1000)")
    signal.write_text("uncommitted")
    while signal.read_text() != "commit":
        time.sleep(0.05)
    conn.execute("COMMIT")
    signal.write_text("committed")
"""


def _wait_for(signal: Path, text: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if signal.exists() and signal.read_text() == text:
            return
        time.sleep(0.05)
    raise AssertionError(f"writer never reached {text!r}")


def test_reader_in_another_process_sees_last_commit_while_writer_works(
    make_project: MakeProject, tmp_path: Path
) -> None:
    project = make_project(PROJECT)
    warehouse = Warehouse(project)
    signal = tmp_path / "signal"
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER_SCRIPT), str(project.file), str(signal)]
    )
    try:
        _wait_for(signal, "uncommitted")
        # The writer holds an open transaction with 1000 more rows: readers see the
        # last committed snapshot and are not blocked.
        with warehouse.reader() as conn:
            count = conn.execute("SELECT count(*) FROM raw_demo.items").fetchone()
        assert count == (1000,)
        signal.write_text("commit")
        _wait_for(signal, "committed")
        with warehouse.reader() as conn:
            count = conn.execute("SELECT count(*) FROM raw_demo.items").fetchone()
        assert count == (2000,)
    finally:
        writer.wait(timeout=60)
    assert writer.returncode == 0


def test_second_writer_times_out_with_a_retryable_error(make_project: MakeProject) -> None:
    warehouse = Warehouse(make_project(PROJECT))
    with (
        warehouse.writer(),
        pytest.raises(WarehouseLockTimeoutError, match="write lock") as caught,
        warehouse.writer(),
    ):
        pass
    assert caught.value.transient
    with warehouse.writer() as conn:  # released again
        conn.execute("SELECT 1")


def test_row_counts_leave_out_dlt_bookkeeping(make_project: MakeProject) -> None:
    warehouse = Warehouse(make_project(PROJECT))
    with warehouse.writer() as conn:
        conn.execute("CREATE SCHEMA raw_s")
        conn.execute("CREATE TABLE raw_s.a AS SELECT 1 AS x UNION ALL SELECT 2")
        conn.execute("CREATE TABLE raw_s._dlt_loads AS SELECT 1 AS x")
    with warehouse.reader() as conn:
        assert warehouse.row_counts(conn) == {("raw_s", "a"): 2}
        assert "raw_s" in warehouse.schemas(conn)
