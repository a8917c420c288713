"""The sync_source flow, run for real against a local Prefect server and DuckLake."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from headwater.config import Project
from headwater.errors import DataSafetyError
from headwater.runs import prefect_request, runs_with_tag
from headwater.warehouse import Warehouse
from tests.conftest import MakeProject, wait_for_event

pytestmark = pytest.mark.slow

PROJECT = """
project:
  name: flows
sources:
  shop:
    type: files
    write_disposition: merge
    tables:
      orders:
        path: data/orders.csv
        primary_key: [order_id]
      refunds:
        path: data/refunds.csv
        write_disposition: replace
  crm:
    type: sql
    url: sqlite:///data/crm.db
    write_disposition: merge
    tables:
      deals:
        incremental:
          cursor: updated_at
          initial_value: "2025-01-01"
"""


def write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def orders(first: int, last: int, status: str = "placed") -> list[str]:
    return [f"{i},{status},{i * 1.5}" for i in range(first, last + 1)]


def write_deals(path: Path, deals: list[tuple[int, str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS deals (deal_id INTEGER PRIMARY KEY, stage TEXT, "
            "updated_at TEXT)"
        )
        db.executemany("INSERT OR REPLACE INTO deals VALUES (?, ?, ?)", deals)


@pytest.fixture
def project(make_project: MakeProject, prefect_api: str) -> Project:
    loaded = make_project(PROJECT)
    write_csv(loaded.root / "data/orders.csv", "order_id,status,amount", orders(1, 100))
    write_csv(loaded.root / "data/refunds.csv", "refund_id,order_id", ["1,5", "2,9"])
    write_deals(
        loaded.root / "data/crm.db",
        [(1, "lead", "2025-02-01"), (2, "won", "2025-03-01"), (3, "lost", "2024-06-01")],
    )
    return loaded


def count(project: Project, query: str) -> Any:
    with Warehouse(project).reader() as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def run(project: Project, source: str, **params: Any) -> dict[str, Any]:
    from flows.sync import sync_source

    result: dict[str, Any] = sync_source(source=source, project_file=str(project.file), **params)
    return result


def test_sync_records_a_named_tagged_flow_run_with_an_artifact(
    project: Project, prefect_api: str
) -> None:
    summary = run(project, "shop")
    assert {t["table"]: t["rows"] for t in summary["tables"]} == {"orders": 100, "refunds": 2}
    assert count(project, "SELECT count(*) FROM raw_shop.orders") == 100

    # By project too: tests/cli/test_serve.py serves a `shop` of its own on a schedule, and
    # Prefect keeps creating its scheduled runs.
    [latest] = runs_with_tag(prefect_api, "source:shop", "project:flows", limit=1)
    assert latest.state == "completed"
    assert latest.name.startswith("sync-shop-") and latest.name.endswith("Z")
    artifact = prefect_request(
        prefect_api, "/artifacts/latest/filter", {"artifacts": {"key": {"any_": ["sync-shop"]}}}
    )
    rows = artifact[0]["data"]
    rows = json.loads(rows) if isinstance(rows, str) else rows
    assert [(row["table"], row["rows"], row["status"]) for row in rows] == [
        ("orders", 100, "loaded"),
        ("refunds", 2, "loaded"),
    ]
    event = wait_for_event(prefect_api, "headwater.sync.completed", latest.id)
    assert event["rows"] == 102 and event["tables"] == {"orders": 100, "refunds": 2}


def test_merge_rerun_adds_no_duplicates_and_applies_updates(project: Project) -> None:
    run(project, "shop")
    write_csv(
        project.root / "data/orders.csv",
        "order_id,status,amount",
        orders(1, 50, "shipped") + orders(51, 120),
    )
    run(project, "shop")
    run(project, "shop")  # nothing changed: the file is skipped
    assert count(project, "SELECT count(*) FROM raw_shop.orders") == 120
    assert count(project, "SELECT count(DISTINCT order_id) FROM raw_shop.orders") == 120
    assert count(project, "SELECT count(*) FROM raw_shop.orders WHERE status='shipped'") == 50
    # dlt's staging copy is emptied after each merge and is not listed as a user table.
    assert count(project, "SELECT count(*) FROM _hw_staging_raw_shop.orders") == 0
    with Warehouse(project).reader() as conn:
        assert {schema for schema, _ in Warehouse(project).row_counts(conn)} == {"raw_shop"}


def test_empty_replace_is_refused_and_previous_rows_stay(project: Project) -> None:
    run(project, "shop")
    write_csv(project.root / "data/refunds.csv", "refund_id,order_id", [])
    with pytest.raises(Exception, match="allow_empty_replace") as caught:
        run(project, "shop", tables=["refunds"])
    assert "refunds" in str(caught.value)
    assert count(project, "SELECT count(*) FROM raw_shop.refunds") == 2


def test_unknown_table_names_the_known_ones(project: Project) -> None:
    with pytest.raises(Exception, match=r"has no table 'refundz'.*orders, refunds"):
        run(project, "shop", tables=["refundz"])


def test_incremental_backfill_and_full_refresh(project: Project) -> None:
    run(project, "crm")  # deal 3 is older than the initial value
    assert count(project, "SELECT count(*) FROM raw_crm.deals") == 2
    write_deals(project.root / "data/crm.db", [(4, "lead", "2025-04-01")])
    assert run(project, "crm")["tables"][0]["rows"] == 1
    # A backfill window loads old rows without moving the cursor.
    run(project, "crm", start="2024-01-01", end="2025-01-01")
    assert count(project, "SELECT count(*) FROM raw_crm.deals") == 4
    write_deals(project.root / "data/crm.db", [(5, "won", "2025-05-01")])
    assert run(project, "crm")["tables"][0]["rows"] == 1
    # Full refresh forgets the cursor and replaces the table with what the config selects.
    summary = run(project, "crm", full_refresh=True)
    assert summary["tables"][0]["rows"] == 4
    assert count(project, "SELECT count(*) FROM raw_crm.deals") == 4


def test_full_refresh_works_as_the_first_sync(project: Project) -> None:
    assert run(project, "shop", full_refresh=True)["tables"][0]["rows"] == 100
    assert count(project, "SELECT count(*) FROM raw_shop.orders") == 100


def test_retry_condition_retries_only_transient_errors() -> None:
    from prefect.states import Failed

    from flows.sync import _retry_transient
    from headwater.errors import TransientError

    transient = Failed(data=TransientError("lock wait"))
    terminal = Failed(data=DataSafetyError("empty replace"))
    assert _retry_transient(None, None, transient) is True  # type: ignore[arg-type]
    assert _retry_transient(None, None, terminal) is False  # type: ignore[arg-type]
