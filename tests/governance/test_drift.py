"""Schema drift in the core: delivered columns, comparison, baselines, events, acceptance and
the dbt hold-back, against a real metadata DB (SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pyarrow as pa
import pytest

from headwater.config import Project
from headwater.governance.columns import DeliveredColumns
from headwater.governance.drift import (
    ColumnChange,
    accept_drift,
    check_drift,
    compare,
    held_back_sources,
    hold_back_reason,
    list_drift_events,
    open_breaking_events,
)
from headwater.store import MetadataStore
from headwater.store.governance import DriftBaseline
from tests.conftest import MakeProject

PROJECT = """
project: {{name: drift_core}}
governance: {{drift_checks: {checks}, block_dbt_on_breaking_drift: {block}}}
sources:
  shop: {{type: files, tables: {{items: {{path: items.csv}}, users: {{path: users.csv}}}}}}
"""

BASE = {"id": "bigint", "name": "text", "amount": "bigint"}

Make = Callable[..., tuple[Project, MetadataStore]]


@pytest.fixture
def make(make_project: MakeProject) -> Iterator[Make]:
    stores: list[MetadataStore] = []

    def build(checks: bool = True, block: bool = True) -> tuple[Project, MetadataStore]:
        project = make_project(PROJECT.format(checks=str(checks).lower(),
                                              block=str(block).lower()))
        stores.append(MetadataStore.open(project))
        return project, stores[-1]

    yield build
    for store in stores:
        store.close()


def test_delivered_columns_read_arrow_schemas_and_json_records() -> None:
    arrow = DeliveredColumns()
    arrow.observe(pa.table({"Order ID": [1], "note": pa.array([None], pa.null()),
                            "_dlt_id": ["x"]}))
    arrow.observe(pa.record_batch({"Order ID": [2], "note": ["late"]}))
    assert arrow.columns == {"order_id": "bigint", "note": "text"}

    records = DeliveredColumns()
    for record in ({"id": 1, "customer": {"Full Name": "Ana"}, "tags": ["a"], "gone": None},
                   {"id": 2, "paid": True, "amount": 1.5}):
        records.observe(record)
    assert records.columns == {"id": "bigint", "customer__full_name": "text", "gone": None,
                               "paid": "bool", "amount": "double"}


def test_compare_orders_changes_and_ignores_own_columns_and_unknown_types() -> None:
    delivered = {"id": "text", "amount": None, "email": "text", "_hw_deleted_at": "timestamp"}
    baseline = {**BASE, "_dlt_load_id": "text"}
    assert compare(baseline, delivered) == [
        ColumnChange("id", "type_changed", "bigint", "text"),
        ColumnChange("name", "removed", "text", None),
        ColumnChange("email", "added", None, "text"),
    ]
    assert compare(BASE, dict(BASE)) == []


def test_breaking_drift_is_recorded_once_holds_back_and_is_accepted_per_table(
    make: Make,
) -> None:
    project, store = make()
    assert check_drift(project, store, "shop", {"items": BASE, "users": {"id": "bigint"}}) == []
    assert hold_back_reason(project, store, "shop") is None

    broken = {"id": "bigint", "amount": "double"}
    [finding] = check_drift(project, store, "shop", {"items": broken}, "run-1")
    assert finding.breaking and finding.table == "items"
    assert "name removed; amount bigint -> double" in finding.summary()
    # The same breaking change again is not a new event; a different one is.
    assert check_drift(project, store, "shop", {"items": broken}) == []
    [users] = check_drift(project, store, "shop", {"users": {"uid": "bigint"}})
    assert users.breaking and users.changes[0] == ColumnChange("id", "removed", "bigint", None)
    with store.session() as session:
        assert len(open_breaking_events(session, "shop")) == 2

    reason = hold_back_reason(project, store, "shop")
    assert reason is not None and "items, users" in reason and "governance accept shop" in reason

    only_users = accept_drift(store, "shop", "ana@example.com", table="users")
    assert (only_users.tables, only_users.events) == (["users"], 1)
    assert hold_back_reason(project, store, "shop") is not None  # items still open
    everything = accept_drift(store, "shop", "bo@example.com")
    assert (everything.tables, everything.events) == (["items"], 1)
    assert hold_back_reason(project, store, "shop") is None
    with store.session() as session:
        baseline = session.query(DriftBaseline).filter_by(table_name="items").one()
        assert baseline.columns == broken
        events, total = list_drift_events(session, source="shop")
        assert total == 2 and [e.accepted_by for e in events] == ["ana@example.com",
                                                                 "bo@example.com"]
        assert events[1].flow_run_id == "run-1"
    # The accepted schema is the new normal.
    assert check_drift(project, store, "shop", {"items": broken}) == []


def test_additive_drift_updates_the_baseline_without_holding_back(make: Make) -> None:
    project, store = make()
    check_drift(project, store, "shop", {"items": BASE})
    [finding] = check_drift(project, store, "shop", {"items": {**BASE, "email": "text"}})
    assert not finding.breaking
    assert hold_back_reason(project, store, "shop") is None
    # A load that delivered no columns (nothing new in the files) is not compared.
    assert check_drift(project, store, "shop", {"items": {}}) == []
    assert check_drift(project, store, "shop", {"items": {**BASE, "email": "text"}}) == []


def test_settings_turn_the_checks_and_the_hold_back_off(make: Make) -> None:
    project, store = make(checks=False)
    assert check_drift(project, store, "shop", {"items": BASE}) == []
    with store.session() as session:
        assert session.query(DriftBaseline).count() == 0

    project, store = make(block=False)
    check_drift(project, store, "shop", {"items": BASE})
    [finding] = check_drift(project, store, "shop", {"items": {"id": "bigint"}})
    assert finding.breaking
    assert hold_back_reason(project, store, "shop") is None


def test_held_back_sources_names_only_sources_with_open_breaking_drift(make: Make) -> None:
    project, store = make()
    check_drift(project, store, "shop", {"items": BASE})
    assert held_back_sources(project, ["shop", "other"]) == {}
    check_drift(project, store, "shop", {"items": {"id": "bigint"}})
    held = held_back_sources(project, ["shop", "other"])
    assert list(held) == ["shop"] and "name removed" in held["shop"]
