"""Snapshot retention: time travel inside it, expiry and file cleanup past it."""

from __future__ import annotations

from headwater.warehouse import Warehouse
from headwater.warehouse.maintenance import expire_snapshots
from tests.conftest import MakeProject


def _three_versions(warehouse: Warehouse) -> None:
    with warehouse.writer() as conn:
        conn.execute("CREATE SCHEMA raw_s")
        # 10,000 rows: small inserts would be inlined in the catalog, not written as files.
        for version in (1, 2, 3):
            conn.execute(
                f"CREATE OR REPLACE TABLE raw_s.t AS SELECT {version} AS v FROM range(10000)"
            )


def test_snapshots_inside_the_retention_are_kept_for_time_travel(
    make_project: MakeProject,
) -> None:
    warehouse = Warehouse(make_project("project: {name: keep}\n"))
    _three_versions(warehouse)
    result = expire_snapshots(warehouse)
    assert result.expired_snapshots == 0
    with warehouse.reader() as conn:
        versions = [
            v
            for (v,) in conn.execute(
                "SELECT snapshot_id FROM ducklake_snapshots('lake')"
            ).fetchall()
        ]
        first_with_table = versions[2]  # 0: lake created, 1: schema, 2: first table
        old = conn.execute(
            f"SELECT DISTINCT v FROM raw_s.t AT (VERSION => {first_with_table})"
        ).fetchall()
    assert old == [(1,)]


def test_retention_zero_expires_history_and_deletes_unused_files(
    make_project: MakeProject,
) -> None:
    project = make_project("project: {name: gc}\nwarehouse: {snapshot_retention_days: 0}\n")
    warehouse = Warehouse(project)
    _three_versions(warehouse)
    files_before = len(list(warehouse.data_path.rglob("*.parquet")))
    result = expire_snapshots(warehouse)
    assert result.expired_snapshots >= 3
    assert result.remaining_snapshots == 1
    assert result.deleted_files == files_before - 1
    with warehouse.reader() as conn:
        assert conn.execute("SELECT DISTINCT v FROM raw_s.t").fetchall() == [(3,)]
    assert len(list(warehouse.data_path.rglob("*.parquet"))) == 1
