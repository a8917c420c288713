"""The run_monitoring flow for real: reconciliation counts of a SQLite-backed sql source and
a files source, row-count changes between syncs, and one source_stale notification per
staleness episode."""

from __future__ import annotations

import sqlite3
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from headwater.config import Project, load_project
from headwater.governance.monitoring import CheckResult, latest_report
from headwater.store import MetadataStore
from tests.notify.conftest import SECRET, SECRET_ENV
from tests.notify.receiver import webhook_receiver

pytestmark = pytest.mark.slow

PROJECT = """
project: {{name: monitoring_flow}}
governance: {{row_count_change_threshold: 0.5}}
sources:
  shop:
    type: files
    write_disposition: merge
    freshness: 1s
    tables:
      orders: {{path: data/orders.csv, primary_key: [id]}}
  crm:
    type: sql
    url: sqlite:///data/crm.db
    write_disposition: merge
    tables:
      deals:
        incremental: {{cursor: updated_at, initial_value: "2025-01-01"}}
  api:
    type: rest_api
    base_url: http://127.0.0.1:9/
    resources:
      things: {{path: things}}
notifications:
  channels:
    hook: {{url: "{url}", secret_env: {secret_env}}}
  rules:
    stale: {{events: [source_stale], channel: hook}}
"""


def write_orders(root: Path, ids: list[int]) -> None:
    rows = [f"{i},{i * 2}" for i in ids]
    (root / "data" / "orders.csv").write_text("\n".join(["id,amount", *rows]) + "\n")


def insert_deals(root: Path, deals: list[tuple[int, str]]) -> None:
    with sqlite3.connect(root / "data" / "crm.db") as db:
        db.execute("CREATE TABLE IF NOT EXISTS deals (id INTEGER PRIMARY KEY, updated_at TEXT)")
        db.executemany("INSERT INTO deals VALUES (?, ?)", deals)


def sync(project: Project, source: str) -> dict[str, Any]:
    from flows.sync import sync_source

    result: dict[str, Any] = sync_source(source=source, project_file=str(project.file))
    return result


def monitor(project: Project) -> dict[tuple[str, str, str | None], CheckResult]:
    from flows.monitoring import run_monitoring

    run_monitoring(project_file=str(project.file))
    store = MetadataStore.open(project)
    try:
        report = latest_report(store)
    finally:
        store.close()
    assert report is not None and report.flow_run_id is not None
    return {(r.check, r.source, r.table): r for r in report.results}


def test_monitoring_reconciles_counts_flags_changes_and_notifies_staleness_once(
    tmp_path: Path, prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    (tmp_path / "data").mkdir()
    with webhook_receiver(SECRET) as receiver:
        (tmp_path / "project.yml").write_text(
            textwrap.dedent(PROJECT.format(url=receiver.url, secret_env=SECRET_ENV)).lstrip()
        )
        project = load_project(tmp_path)
        write_orders(tmp_path, [1, 2, 3, 4])
        sync(project, "shop")
        # 10 rows in the file, one key twice: a merge loads 9, and the count agrees.
        write_orders(tmp_path, [*range(1, 10), 9])
        sync(project, "shop")
        # One deal before the incremental window: neither synced nor counted.
        insert_deals(tmp_path, [(1, "2024-06-01"), (2, "2025-02-01"), (3, "2025-03-01")])
        sync(project, "crm")
        insert_deals(tmp_path, [(4, "2025-04-01")])  # at the source, not synced yet
        time.sleep(1.1)  # past shop's `freshness: 1s`

        results = monitor(project)
        shop = results[("reconciliation", "shop", "orders")]
        assert shop.status == "ok", shop.message
        assert shop.details["source_rows"] == shop.details["warehouse_rows"] == 9
        deals = results[("reconciliation", "crm", "deals")]
        assert deals.status == "warning"
        assert (deals.details["source_rows"], deals.details["warehouse_rows"]) == (3, 2)
        assert "incremental on updated_at" in deals.message
        things = results[("reconciliation", "api", "things")]
        assert things.status == "skipped" and "not available" in things.message

        change = results[("row_count_change", "shop", "orders")]
        assert change.status == "warning" and "4 -> 9 rows (+125%)" in change.message
        assert results[("row_count_change", "crm", "deals")].status == "skipped"

        assert results[("freshness", "shop", None)].status == "warning"
        assert "older than 1s (freshness: 1s)" in results[("freshness", "shop", None)].message
        assert results[("freshness", "crm", None)].status == "skipped"  # unmonitored

        # Still stale at the next run: the same episode, no second notification.
        assert monitor(project)[("freshness", "shop", None)].status == "warning"
        stale = [r.json for r in receiver.accepted if r.json["kind"] == "source_stale"]
    assert [(body["source"], body["details"]["threshold_seconds"]) for body in stale] == [
        ("shop", 1.0)
    ]
