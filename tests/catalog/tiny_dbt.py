"""A tiny dbt-duckdb project, built for real once per test process and shared by modules.

Two sources (orders.orders, shop.customers), a seed and four models in a diamond:
a reads both sources, b and c read a, d reads b and c. Every model has a test; d's
accepted_values test fails on purpose with severity warn, so results include a `warn`.
The DuckDB file is called lake.duckdb so dbt's database name matches Headwater's `lake`.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb

FILES = {
    "dbt_project.yml": """
        name: tiny
        version: "1.0"
        profile: tiny
        config-version: 2
        models:
          tiny:
            +materialized: table
    """,
    "seeds/countries.csv": "code,name\nFR,France\nDE,Germany\n",
    "models/sources.yml": """
        version: 2
        sources:
          - name: orders
            schema: raw_orders
            description: Orders synced from the shop
            tables:
              - name: orders
                description: One row per order
                columns:
                  - name: id
                    description: order id
                    data_tests: [not_null]
          - name: shop
            schema: raw_shop
            tables:
              - name: customers
    """,
    "models/schema.yml": """
        version: 2
        models:
          - name: a
            description: Orders with their customer
            config:
              meta: {owner: alice}
              tags: [core]
            columns:
              - name: id
                description: the order id
                data_type: integer
                data_tests: [unique]
          - name: b
            columns:
              - name: id
                data_tests: [not_null]
          - name: c
            description: Customer names per order
            columns:
              - name: name
                description: customer display name
                data_tests: [not_null]
          - name: d
            config:
              meta: {owner: bob}
            columns:
              - name: name
                data_tests:
                  - accepted_values:
                      arguments: {values: [Ann]}
                      config: {severity: warn}
    """,
    "models/a.sql": "select o.id, o.amount, c.name from {{ source('orders', 'orders') }} o "
    "join {{ source('shop', 'customers') }} c on o.customer_id = c.id",
    "models/b.sql": "select id, amount from {{ ref('a') }}",
    "models/c.sql": "select id, name from {{ ref('a') }}",
    "models/d.sql": "select b.id, b.amount, c.name from {{ ref('b') }} b join {{ ref('c') }} c "
    "using (id)",
}

RAW_SQL = """
CREATE SCHEMA raw_orders;
CREATE TABLE raw_orders.orders AS
    SELECT * FROM (VALUES (1, 10, 5.0), (2, 11, 7.5), (3, 10, 1.0)) t(id, customer_id, amount);
CREATE TABLE raw_orders._dlt_loads (load_id VARCHAR, status BIGINT, inserted_at TIMESTAMPTZ);
INSERT INTO raw_orders._dlt_loads VALUES
    ('1', 0, TIMESTAMPTZ '2026-01-02 03:04:05+00'),
    ('2', 0, TIMESTAMPTZ '2026-01-03 00:00:00+00'),
    ('3', 1, TIMESTAMPTZ '2026-02-01 00:00:00+00');
CREATE SCHEMA raw_shop;
CREATE TABLE raw_shop.customers AS SELECT * FROM (VALUES (10, 'Ann'), (11, 'Bob')) t(id, name);
CREATE TABLE raw_shop.events AS SELECT 1 AS event_id, 'click' AS kind;
"""


@dataclass(frozen=True)
class TinyBuild:
    """Where the built project lives."""

    project_dir: Path
    """The dbt project."""
    target_dir: Path
    """dbt's target dir (manifest.json, run_results.json, compiled/)."""
    database: Path
    """A copy of the warehouse file taken after the build (dbt keeps its own open)."""


@functools.cache
def tiny_build() -> TinyBuild:
    """Write, seed and `dbt build` the tiny project (once per process)."""
    from dbt.cli.main import dbtRunner

    base = Path(tempfile.mkdtemp(prefix="headwater-tiny-dbt-"))
    project = base / "project"
    for name, text in FILES.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    lake = base / "lake.duckdb"
    with duckdb.connect(str(lake)) as conn:
        conn.execute(RAW_SQL)
    (project / "profiles.yml").write_text(
        f"tiny:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {lake}\n      threads: 1\n"
    )
    result = dbtRunner().invoke(
        ["build", "--project-dir", str(project), "--profiles-dir", str(project), "--quiet"]
    )
    if result.exception is not None:
        raise result.exception
    copy = base / "snapshot.duckdb"
    shutil.copy(lake, copy)
    wal = lake.with_name(lake.name + ".wal")  # dbt's open connection may not have checkpointed
    if wal.exists():
        shutil.copy(wal, copy.with_name(copy.name + ".wal"))
    return TinyBuild(project, project / "target", copy)


def attach(build: TinyBuild) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the built warehouse attached read-only as `lake`."""
    conn = duckdb.connect()
    conn.execute(f"ATTACH '{build.database}' AS lake (READ_ONLY)")
    return conn
