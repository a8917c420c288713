"""A project with consoles over a small orders table in a real warehouse, shared by the
consoles, flow and API tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from headwater.config import Project, load_project
from headwater.warehouse import Warehouse

CONSOLES_YML = """\
# Consoles over the shop's orders.
project:
  name: {name}

consoles:
  # Revenue per customer, checked and published.
  revenue:
    description: Revenue per customer
    file: consoles/revenue.sql   # the SQL lives in a file
    schedule: {{cron: "0 7 * * *", timezone: Europe/Lisbon}}  # before the stand-up
    materialize: true
    export: {{path: exports/revenue.parquet}}
    assertions:
      min_rows: 1
      not_null: [customer]
      expression: revenue >= 0
  orders_csv:
    sql: SELECT order_id, customer, amount, ordered_at FROM raw_shop.orders ORDER BY order_id
    export: {{path: exports/orders.csv}}
  unsafe:
    sql: DROP TABLE raw_shop.orders
  twice:
    sql: SELECT 1 AS a; SELECT 2 AS b
  lost:
    file: consoles/missing.sql
"""

REVENUE_SQL = """\
SELECT customer, sum(amount) AS revenue, count(*) AS orders
FROM raw_shop.orders
GROUP BY customer
ORDER BY customer
"""

ORDERS = [
    (1, "ada", "10.50", "2024-01-02 03:04:05"),
    (2, "bob", "20.00", "2024-02-03 04:05:06"),
    (3, "ada", "7.25", "2024-03-04 05:06:07"),
]
"""The rows of raw_shop.orders: (order_id, customer, amount, ordered_at)."""

Order = tuple[int, str | None, str, str]


def load_orders(project: Project, rows: list[Order]) -> None:
    """Replace raw_shop.orders with `rows`, through a writer session."""
    values = ", ".join(
        f"({order_id}, {'NULL' if customer is None else repr(customer)}, "
        f"{amount}::DECIMAL(10,2), TIMESTAMP '{at}')"
        for order_id, customer, amount, at in rows
    )
    with Warehouse(project).writer() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw_shop")
        conn.execute(
            "CREATE OR REPLACE TABLE raw_shop.orders AS SELECT * FROM (VALUES "
            f"{values}) AS t(order_id, customer, amount, ordered_at)"
        )


def write_shop(
    root: Path, name: str = "consoles_test", extra_yaml: str = "", load: bool = True
) -> Project:
    """project.yml (with `extra_yaml` appended), the revenue SQL file and (`load`)
    raw_shop.orders in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "consoles").mkdir(exist_ok=True)
    (root / "consoles" / "revenue.sql").write_text(REVENUE_SQL)
    text = CONSOLES_YML.format(name=name) + textwrap.dedent(extra_yaml)
    (root / "project.yml").write_text(text)
    project = load_project(root / "project.yml")
    if load:
        load_orders(project, ORDERS)
    return project


def count(project: Project, sql: str) -> int:
    """The single number `sql` answers, from an ordinary read-only session."""
    with Warehouse(project).reader() as conn:
        row = conn.execute(sql).fetchone()
    assert row is not None
    return int(row[0])
