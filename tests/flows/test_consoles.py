"""The run_console flow, run for real against the test Prefect server, a DuckLake warehouse
and a local webhook receiver."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from flows.consoles import run_console
from headwater.config import Project
from headwater.consoles import console_runs
from headwater.runs import prefect_request
from headwater.store import MetadataStore
from headwater.store.consoles import ConsoleRun
from tests.conftest import wait_for_event
from tests.consoles.shop import ORDERS, count, load_orders, write_shop
from tests.notify.conftest import SECRET, SECRET_ENV
from tests.notify.receiver import Receiver, webhook_receiver

pytestmark = pytest.mark.slow

NOTIFY_YML = """
notifications:
  channels:
    hook: {{url: "{url}", secret_env: {secret_env}}}
  rules:
    console_checks:
      events: [console_assertion_failed]
      consoles: [revenue]
      channel: hook
"""


@pytest.fixture
def receiver() -> Any:
    with webhook_receiver(SECRET) as running:
        yield running


@pytest.fixture
def shop(
    tmp_path: Path, prefect_api: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> Project:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    notify = NOTIFY_YML.format(url=receiver.url, secret_env=SECRET_ENV)
    return write_shop(tmp_path / "shop", f"flows_{uuid.uuid4().hex[:6]}", notify)


def _runs(project: Project, console: str) -> list[ConsoleRun]:
    store = MetadataStore.open(project)
    try:
        return list(console_runs(store, console)[0])
    finally:
        store.close()


def _artifact_rows(api: str, run_id: str, key: str) -> list[dict[str, Any]]:
    body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": [key]}}}
    [artifact] = prefect_request(api, "/artifacts/filter", body)
    data = artifact["data"]
    rows: list[dict[str, Any]] = json.loads(data) if isinstance(data, str) else data
    return rows


def test_a_run_is_a_named_tagged_flow_run_with_history_artifact_and_event(
    shop: Project, prefect_api: str, receiver: Receiver
) -> None:
    state = run_console("revenue", project_file=str(shop.file), return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    assert summary["rows"] == 2 and summary["materialized_table"] == "consoles.revenue"
    run_id = str(state.state_details.flow_run_id)

    run = prefect_request(prefect_api, f"/flow_runs/{run_id}")
    assert run["name"].startswith("console-revenue-") and run["name"].endswith("Z")
    assert {"console:revenue", f"project:{shop.config.project.name}"} <= set(run["tags"])
    assert _artifact_rows(prefect_api, run_id, "console-revenue") == [
        {"customer": "ada", "revenue": 17.75, "orders": 2},
        {"customer": "bob", "revenue": 20.0, "orders": 1},
    ]
    payload = wait_for_event(prefect_api, "headwater.console.completed", run_id)
    assert payload["rows"] == 2 and payload["status"] == "succeeded"

    [entry] = _runs(shop, "revenue")
    assert (entry.flow_run_id, entry.status, entry.row_count) == (run_id, "succeeded", 2)
    assert count(shop, "SELECT count(*) FROM consoles.revenue") == 2
    assert (shop.root / "exports" / "revenue.parquet").is_file()
    assert receiver.requests == []  # nothing failed: no notification


def test_a_failed_assertion_fails_the_run_and_notifies(
    shop: Project, prefect_api: str, receiver: Receiver
) -> None:
    load_orders(shop, [*ORDERS, (4, "cy", "-5.00", "2024-04-05 00:00:00")])
    state = run_console("revenue", project_file=str(shop.file), return_state=True)
    assert state.is_failed()
    assert "expression revenue >= 0: false on 1 row" in str(state.message)
    run_id = str(state.state_details.flow_run_id)

    payload = wait_for_event(prefect_api, "headwater.console.failed", run_id)
    assert [a["passed"] for a in payload["assertions"]] == [True, True, False]
    [entry] = _runs(shop, "revenue")
    assert entry.status == "failed" and entry.flow_run_id == run_id
    assert entry.assertions is not None
    assert entry.assertions[2]["message"] == "expression revenue >= 0: false on 1 row"
    assert entry.row_count == 3 and entry.preview is not None and len(entry.preview) == 3

    [delivered] = receiver.accepted
    body = delivered.json
    assert (body["kind"], body["console"]) == ("console_assertion_failed", "revenue")
    assert "expression revenue >= 0: false on 1 row" in body["summary"]
    assert body["details"]["flow_run_id"] == run_id


def test_unsafe_sql_and_unknown_consoles_fail_the_run_with_the_reason(
    shop: Project, receiver: Receiver
) -> None:
    state = run_console("unsafe", project_file=str(shop.file), return_state=True)
    assert state.is_failed()
    assert "only read statements" in str(state.message)
    [entry] = _runs(shop, "unsafe")
    assert entry.status == "failed" and "only read statements" in (entry.error or "")
    assert count(shop, "SELECT count(*) FROM raw_shop.orders") == 3

    state = run_console("nope", project_file=str(shop.file), return_state=True)
    assert state.is_failed()
    assert "no console 'nope' in project.yml; known consoles:" in str(state.message)
    assert _runs(shop, "nope") == []
    assert receiver.requests == []
