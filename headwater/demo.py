"""Generate the demo project's data locally: no downloads, deterministic, idempotent.

orders CSV (N rows), customers Parquet, a SQLite "crm" database with related tables, and a
small schema in PostgreSQL when a server is reachable.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb

from headwater.config import Project
from headwater.config.sources import FilesSource, SqlSource

CUSTOMERS = 5_000
"""Customers in the demo (orders reference them)."""


def generate_demo_data(project: Project, order_rows: int) -> dict[str, str]:
    """Create whatever demo files are missing; returns source -> reason for sources whose
    data could not be prepared (e.g. PostgreSQL not reachable)."""
    skipped: dict[str, str] = {}
    for name, config in project.config.sources.items():
        if isinstance(config, FilesSource):
            for table_name, table in config.tables.items():
                path = project.path(table.path)
                if table_name == "orders":
                    write_orders_csv(path, order_rows)
                elif table_name == "customers":
                    write_customers_parquet(path)
        elif isinstance(config, SqlSource) and config.url:
            if config.url.startswith("sqlite"):
                write_crm_sqlite(project.path(config.url.split("///", 1)[1]))
            elif config.url.startswith("postgresql"):
                reason = seed_postgres(config.url, config.schema_name or "headwater_demo")
                if reason:
                    skipped[name] = reason
    return skipped


def write_orders_csv(path: Path, rows: int) -> None:
    """`rows` orders; kept as is when the file already has that many rows."""
    marker = path.with_suffix(".rows")
    if path.exists() and marker.exists() and marker.read_text() == str(rows):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        f"""
        COPY (
          SELECT i + 1 AS order_id,
                 (hash(i) % {CUSTOMERS}) + 1 AS customer_id,
                 TIMESTAMP '2025-01-01' + to_seconds((hash(i * 7) % 31536000)::BIGINT)
                   AS ordered_at,
                 ['placed', 'shipped', 'delivered', 'returned'][(hash(i * 3) % 4)::BIGINT + 1]
                   AS status,
                 round(((hash(i * 11) % 50000) / 100.0) + 1, 2)::DECIMAL(10, 2) AS amount,
                 ['EUR', 'USD', 'GBP'][(hash(i * 5) % 3)::BIGINT + 1] AS currency
          FROM range({rows}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
        """
    )
    marker.write_text(str(rows))


def write_customers_parquet(path: Path) -> None:
    """The demo customers, once."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    duckdb.sql(
        f"""
        COPY (
          SELECT i + 1 AS customer_id,
                 'Customer ' || (i + 1) AS name,
                 'customer' || (i + 1) || '@example.com' AS email,
                 ['PT', 'BE', 'NL', 'DE', 'FR', 'US'][(hash(i) % 6)::BIGINT + 1] AS country,
                 DATE '2020-01-01' + ((hash(i * 13) % 1800)::INTEGER) AS signed_up_on
          FROM range({CUSTOMERS}) t(i)
        ) TO '{path}' (FORMAT parquet)
        """
    )


def write_crm_sqlite(path: Path) -> None:
    """A small CRM: accounts, contacts and deals with foreign keys; once."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE accounts (
              account_id INTEGER PRIMARY KEY, name TEXT NOT NULL, industry TEXT,
              created_at TEXT NOT NULL);
            CREATE TABLE contacts (
              contact_id INTEGER PRIMARY KEY,
              account_id INTEGER NOT NULL REFERENCES accounts(account_id),
              full_name TEXT NOT NULL, email TEXT, phone TEXT);
            CREATE TABLE deals (
              deal_id INTEGER PRIMARY KEY,
              account_id INTEGER NOT NULL REFERENCES accounts(account_id),
              stage TEXT NOT NULL, amount REAL NOT NULL, updated_at TEXT NOT NULL);
            """
        )
        industries = ["retail", "software", "logistics", "health"]
        stages = ["lead", "qualified", "won", "lost"]
        db.executemany(
            "INSERT INTO accounts VALUES (?, ?, ?, ?)",
            [
                (i, f"Account {i}", industries[i % 4], f"2024-{i % 12 + 1:02d}-01T00:00:00")
                for i in range(1, 201)
            ],
        )
        db.executemany(
            "INSERT INTO contacts VALUES (?, ?, ?, ?, ?)",
            [
                (i, i % 200 + 1, f"Contact {i}", f"contact{i}@example.org", f"+351 21 {i:07d}")
                for i in range(1, 601)
            ],
        )
        db.executemany(
            "INSERT INTO deals VALUES (?, ?, ?, ?, ?)",
            [
                (i, i % 200 + 1, stages[i % 4], 1000.0 + i * 17 % 9000,
                 f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d}T12:00:00")
                for i in range(1, 1001)
            ],
        )


def seed_postgres(url: str, schema: str) -> str | None:
    """Create `schema` with products and stock levels unless present; returns a reason
    when the server is not reachable."""
    import sqlalchemy

    driver_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        engine = sqlalchemy.create_engine(driver_url, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            conn.execute(
                sqlalchemy.text(
                    f"""
                    CREATE TABLE IF NOT EXISTS "{schema}".products (
                      product_id integer PRIMARY KEY, name text NOT NULL,
                      category text NOT NULL, price numeric(10, 2) NOT NULL,
                      updated_at timestamptz NOT NULL DEFAULT now());
                    INSERT INTO "{schema}".products
                      SELECT g, 'Product ' || g, (ARRAY['tea','coffee','cups','gifts'])[g % 4 + 1],
                             (g % 90) + 9.99, timestamptz '2025-01-01' + g * interval '1 hour'
                      FROM generate_series(1, 500) g
                    ON CONFLICT (product_id) DO NOTHING;
                    """
                )
            )
        engine.dispose()
    except sqlalchemy.exc.OperationalError as exc:
        return f"PostgreSQL at {url} is not reachable ({str(exc).splitlines()[0]})"
    return None
