"""A warehouse with a small known table, files a hostile query would like to read or write,
and a snapshot of everything that must stay unchanged."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from headwater.config import load_project
from headwater.warehouse import Warehouse

SECRET = "topsecret"
"""Content of the files hostile queries try to read; must never appear in an answer."""

ORDERS_SQL = [
    "CREATE SCHEMA raw_shop",
    "CREATE TABLE raw_shop.orders (order_id INTEGER, customer VARCHAR, amount DECIMAL(10,2), "
    "ordered_at TIMESTAMP, tags VARCHAR[])",
    "INSERT INTO raw_shop.orders VALUES "
    "(1, 'ada', 10.50, TIMESTAMP '2024-01-02 03:04:05', ['new', 'web']), "
    "(2, 'bob', 20.00, TIMESTAMP '2024-02-03 04:05:06', []), "
    "(3, 'cy', 7.25, TIMESTAMP '2024-03-04 05:06:07', NULL)",
]
"""The known table every query test reads."""


@dataclass(frozen=True)
class Shop:
    """A warehouse holding `raw_shop.orders` (3 rows) and the files around it."""

    warehouse: Warehouse
    secret: Path
    sqlite: Path
    canary: Path
    tmp: Path
    observer: duckdb.DuckDBPyConnection
    """An ordinary read-only session (not the locked-down one) that checks the state."""

    @property
    def paths(self) -> dict[str, Path]:
        """Placeholders of the hostile query table."""
        return {
            "secret": self.secret,
            "sqlite": self.sqlite,
            "canary": self.canary,
            "tmp": self.tmp,
        }


def make_shop(directory: Path, api_yaml: str = "") -> Shop:
    """Create the project, warehouse and files in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "project.yml").write_text(f"project:\n  name: shop\n{api_yaml}")
    warehouse = Warehouse(load_project(directory / "project.yml"))
    load_orders(warehouse)
    secret = directory / "secret.csv"
    secret.write_text(f"customer,secret\nada,{SECRET}\n")
    sqlite = directory / "secret.sqlite"
    with sqlite3.connect(sqlite) as db:
        db.execute("CREATE TABLE secrets (value TEXT)")
        db.execute("INSERT INTO secrets VALUES (?)", (SECRET,))
    db.close()
    observer = warehouse.connect(read_only=True)
    return Shop(warehouse, secret, sqlite, directory / "canary.csv", directory, observer)


def load_orders(warehouse: Warehouse) -> None:
    """Write `raw_shop.orders` through the warehouse's writer session."""
    with warehouse.writer() as conn:
        for statement in ORDERS_SQL:
            conn.execute(statement)


def state(shop: Shop) -> dict[str, Any]:
    """Everything a hostile query must leave alone: the lake's tables and rows, its snapshot
    count, the canary path and the secret files' bytes."""
    conn = shop.observer
    tables = conn.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_catalog = 'lake' ORDER BY ALL"
    ).fetchall()
    orders = conn.execute("SELECT * FROM raw_shop.orders ORDER BY order_id").fetchall()
    snapshots = conn.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()
    return {
        "tables": tables,
        "orders": orders,
        "snapshots": snapshots,
        "canary_exists": shop.canary.exists(),
        "secret": hashlib.sha256(shop.secret.read_bytes()).hexdigest(),
        "sqlite": hashlib.sha256(shop.sqlite.read_bytes()).hexdigest(),
        "files": sorted(path.name for path in shop.tmp.iterdir()),
    }


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """One shop warehouse for a whole test module (its tests only read)."""
    made = make_shop(tmp_path_factory.mktemp("shop"))
    yield made
    made.observer.close()
