"""A CDC process killed anywhere loses nothing and duplicates nothing on the next run."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time

import pytest

from connectors.postgres_cdc.replicator import CRASH_ENV, Replicator
from headwater.warehouse import Warehouse
from tests.cdc.conftest import CdcSource, assert_same, source_rows, warehouse_rows
from tests.cdc.test_replication import (
    ACCOUNT_COLUMNS,
    ACCOUNT_JSON,
    SCHEMA,
    Workload,
    assert_tables_equal,
)

pytestmark = pytest.mark.slow

RUN = """
import sys
from connectors.postgres_cdc.replicator import Replicator
from headwater.config import load_project
replicator = Replicator(load_project(sys.argv[1]), sys.argv[2])
replicator.prepare()
while not replicator.run_batch().drained:
    pass
"""


def start(cdc: CdcSource, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if key != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(cdc.project_dir / "project.yml"), cdc.name],
        env=env,
        stderr=subprocess.PIPE,
    )


def assert_no_duplicate_keys(replicator: Replicator) -> None:
    with Warehouse(replicator.project).reader() as conn:
        row = conn.execute(
            f'SELECT count(*), count(DISTINCT id) FROM "{replicator.schema}".accounts'
        ).fetchone()
    assert row is not None and row[0] == row[1]


@pytest.mark.parametrize("crash_at", ["mid_merge", "before_confirm"])
def test_killed_at_a_crash_point_then_run_again(cdc_source: CdcSource, crash_at: str) -> None:
    cdc_source.execute(SCHEMA)
    workload = Workload(cdc_source, seed=5)
    for _ in range(20):
        workload.transaction()
    project = cdc_source.project(tables="accounts: {}\nlines: {}")
    replicator = Replicator(project, cdc_source.name)
    replicator.prepare()
    for _ in range(80):
        workload.transaction()
    killed = start(cdc_source, crash_at)
    assert killed.wait(timeout=120) == -9, killed.stderr.read() if killed.stderr else ""
    again = start(cdc_source)
    assert again.wait(timeout=120) == 0, again.stderr.read() if again.stderr else ""
    assert_tables_equal(cdc_source, replicator)
    assert_no_duplicate_keys(replicator)


def test_sigkill_at_random_moments(cdc_source: CdcSource) -> None:
    cdc_source.execute(SCHEMA)
    project = cdc_source.project(tables="accounts: {}\nlines: {}")
    replicator = Replicator(project, cdc_source.name)
    workload = Workload(cdc_source, seed=9)
    rng = random.Random(4)
    for _ in range(4):
        for _ in range(150):
            workload.transaction()
        process = start(cdc_source)
        time.sleep(rng.uniform(0.5, 4.0))  # somewhere in snapshot, peek, merge or confirm
        process.kill()
        process.wait(timeout=30)
    final = start(cdc_source)
    assert final.wait(timeout=180) == 0, final.stderr.read() if final.stderr else ""
    assert_same(
        source_rows(cdc_source, "accounts", ACCOUNT_COLUMNS, ACCOUNT_JSON),
        warehouse_rows(project, replicator.schema, "accounts", ACCOUNT_COLUMNS, ACCOUNT_JSON),
    )
    assert_tables_equal(cdc_source, replicator)
    assert_no_duplicate_keys(replicator)
