"""PII followed through column lineage into dbt models, on a real dbt run of the demo
models plus one aggregating model, with model overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headwater.config import Project, load_project
from headwater.dbt.runner import run_dbt
from headwater.governance.pii import scan_table
from headwater.governance.pii_lineage import PiiColumn, effective_pii, pii_columns
from headwater.store import MetadataStore
from tests.dbt.conftest import new_project, write_raw

pytestmark = pytest.mark.slow

EMAIL_STATS = """
select
    country,
    count(email) as emails,
    count(distinct email) as distinct_emails,
    string_agg(email, ', ') as email_list,
    max(email) as last_email,
    arg_max(customer_name, signed_up_on) as newest_name,
    list(customer_name) as names
from {{ ref('stg_customers') }}
group by country
"""
"""Counts of a PII column are not PII; aggregates that return its values are."""

OVERRIDES = [
    {"model": "customer_revenue", "column": "customer_name", "pii": False,
     "reason": "display names of business customers"},
    {"model": "daily_orders", "column": "order_date", "pii": True, "reason": "test: declared"},
]  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = tmp_path_factory.mktemp("pii_lineage") / "proj"
    new_project(root)
    (root / "dbt_project" / "models" / "marts" / "email_stats.sql").write_text(EMAIL_STATS)
    with (root / "project.yml").open("a") as file:
        file.write(f"governance:\n  pii_overrides: {json.dumps(OVERRIDES)}\n")
    project = load_project(root)
    write_raw(project)
    assert run_dbt(project, ["run"]).success
    scan_table(project, "customers", "customers", notify=False)
    return project


def _columns(project: Project) -> dict[tuple[str, str], PiiColumn]:
    store = MetadataStore.open(project)
    try:
        return {(c.relation, c.column): c for c in effective_pii(project, store)}
    finally:
        store.close()


def test_pii_flows_through_passthrough_rename_and_transformation(built: Project) -> None:
    columns = _columns(built)
    raw_email = columns[("raw_customers.customers", "email")]
    assert raw_email.kinds == ["email"] and raw_email.pii
    assert columns[("raw_customers.customers", "name")].kinds == ["name"]  # its name says so

    # lower(email) AS email: a transformation still carries the value.
    email = columns[("staging.stg_customers", "email")]
    assert email.pii and email.kinds == ["email"] and email.model == "stg_customers"
    assert email.evidence == ["lineage from raw_customers.customers.email"]
    # name AS customer_name: a rename.
    name = columns[("staging.stg_customers", "customer_name")]
    assert name.pii and name.kinds == ["name"]
    assert name.lineage_from == ["raw_customers.customers.name"]


def test_aggregates_filters_and_join_keys_do_not_carry_pii(built: Project) -> None:
    columns = _columns(built)
    assert ("marts.email_stats", "emails") not in columns
    assert ("marts.email_stats", "distinct_emails") not in columns
    assert ("marts.email_stats", "country") not in columns
    assert not any(relation == "staging.stg_orders" for relation, _ in columns)


def test_aggregates_that_return_values_carry_pii(built: Project) -> None:
    columns = _columns(built)
    assert columns[("marts.email_stats", "email_list")].kinds == ["email"]
    assert columns[("marts.email_stats", "last_email")].kinds == ["email"]
    assert columns[("marts.email_stats", "newest_name")].kinds == ["name"]
    assert columns[("marts.email_stats", "names")].kinds == ["name"]
    assert all(columns[("marts.email_stats", c)].pii for c in ("email_list", "names"))


def test_model_overrides_win(built: Project) -> None:
    columns = _columns(built)
    # Derived from a PII column, but declared not PII.
    name = columns[("marts.customer_revenue", "customer_name")]
    assert not name.pii and name.overridden and name.kinds == ["name"]
    assert name.lineage_from == ["raw_customers.customers.name"]
    assert "override: display names of business customers" in name.evidence
    declared = columns[("marts.daily_orders", "order_date")]
    assert declared.pii and declared.kinds == ["declared"] and declared.model == "daily_orders"

    store = MetadataStore.open(built)
    try:
        flags = pii_columns(built, store)
    finally:
        store.close()
    assert flags["staging.stg_customers"] == {"customer_name": ["name"], "email": ["email"]}
    assert "marts.customer_revenue" not in flags
    assert flags["marts.daily_orders"] == {"order_date": ["declared"]}
    assert flags["raw_customers.customers"] == {"email": ["email"], "name": ["name"]}


def test_without_a_manifest_raw_columns_and_model_overrides_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    new_project(root)
    with (root / "project.yml").open("a") as file:
        file.write(f"governance:\n  pii_overrides: {json.dumps(OVERRIDES)}\n")
    project = load_project(root)
    write_raw(project)
    scan_table(project, "customers", "customers", notify=False)
    store = MetadataStore.open(project)
    try:
        columns = {(c.relation, c.column): c for c in effective_pii(project, store)}
    finally:
        store.close()
    assert {relation for relation, _ in columns} == {
        "raw_customers.customers", "customer_revenue", "daily_orders"
    }  # fmt: skip
    # Model overrides are listed under the model's name until a manifest places them.
    declared = columns[("daily_orders", "order_date")]
    assert declared.pii and declared.model == "daily_orders" and declared.kinds == ["declared"]
