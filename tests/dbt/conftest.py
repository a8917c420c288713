"""A project with the repo's dbt models over orders and customers, raw tables written directly."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from headwater.config import Project, load_project
from headwater.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]

PROJECT_YML = """
project: {name: dbt_test}
sources:
  orders:
    type: files
    write_disposition: merge
    tables:
      orders: {path: data/orders.csv, primary_key: [order_id]}
  customers:
    type: files
    write_disposition: replace
    tables:
      customers: {path: data/customers.csv}
"""
"""Two of the demo's sources; the CRM and PostgreSQL ones are left out."""

# Demo models over the sources this test project does not have.
_OTHER_MODELS = ("stg_accounts", "stg_contacts", "stg_deals", "stg_products", "account_pipeline")

CUSTOMERS = 20
"""Customers written by `write_raw`."""


def copy_dbt_project(root: Path) -> Path:
    """Copy the repo's dbt_project/ into `root`, without the CRM and product models."""
    target = root / "dbt_project"
    shutil.copytree(
        REPO / "dbt_project", target, ignore=shutil.ignore_patterns("target", "logs")
    )
    for name in _OTHER_MODELS:
        for path in target.glob(f"models/*/{name}.sql"):
            path.unlink()
    return target


def new_project(root: Path) -> Project:
    """project.yml (orders, customers) plus the copied dbt project in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "project.yml").write_text(textwrap.dedent(PROJECT_YML).lstrip())
    copy_dbt_project(root)
    return load_project(root)


def write_raw(project: Project, orders: int = 50) -> None:
    """raw_orders.orders and raw_customers.customers, written straight into the lake."""
    with Warehouse(project).writer() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw_orders")
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw_customers")
        conn.execute(
            f"""
            CREATE OR REPLACE TABLE raw_orders.orders AS
            SELECT i AS order_id, i % {CUSTOMERS} + 1 AS customer_id,
                   TIMESTAMPTZ '2025-01-01' + to_hours(i) AS ordered_at,
                   CASE WHEN i % 5 = 0 THEN 'returned' ELSE 'placed' END AS status,
                   10.0 AS amount, 'EUR' AS currency
            FROM range(1, {orders} + 1) t(i)
            """
        )
        conn.execute(
            f"""
            CREATE OR REPLACE TABLE raw_customers.customers AS
            SELECT i AS customer_id, 'Customer ' || i AS name,
                   'C' || i || '@example.com' AS email, 'PT' AS country,
                   DATE '2024-01-01' AS signed_up_on
            FROM range(1, {CUSTOMERS} + 1) t(i)
            """
        )


@pytest.fixture(scope="module")
def lake_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """One project per test module, raw tables in place, not yet built."""
    project = new_project(tmp_path_factory.mktemp("dbt") / "proj")
    write_raw(project)
    return project


NewProject = Callable[[Path], Project]
