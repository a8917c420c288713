"""A throwaway PostgreSQL schema replicated by a `postgres_cdc` source, and comparisons of
source and warehouse tables."""

from __future__ import annotations

import hashlib
import json
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from headwater.config import Project, load_project
from headwater.warehouse import Warehouse


@dataclass
class CdcSource:
    """A source schema in the test database and a project replicating it."""

    name: str
    """Source name (slot and publication are `headwater_<name>`)."""
    schema: str
    """PostgreSQL schema holding the tables."""
    url: str
    """libpq URL of the test database."""
    pg: psycopg.Connection
    """An autocommit session for the test's own changes."""
    project_dir: Path
    """Where project.yml is written."""

    def project(self, extra: str = "", tables: str = "") -> Project:
        """Write project.yml with this source (plus `extra` source keys) and load it."""
        text = f"""
        project:
          name: cdc_tests
        sources:
          {self.name}:
            type: postgres_cdc
            url: {self.url}
            schema: {self.schema}
            batch_changes: 500
        """
        body = textwrap.dedent(text).lstrip()
        for line in textwrap.dedent(extra).strip().splitlines():
            body += f"    {line}\n"
        if tables:
            body += "    tables:\n" + "".join(
                f"      {line}\n" for line in textwrap.dedent(tables).strip().splitlines()
            )
        (self.project_dir / "project.yml").write_text(body)
        return load_project(self.project_dir / "project.yml")

    def execute(self, sql: str, params: Any = None) -> None:
        """Run `sql` in the source schema (its own transaction)."""
        with self.pg.transaction():
            self.pg.execute(f"SET LOCAL search_path TO {self.schema}")
            self.pg.execute(sql, params)


def _cleanup(pg: psycopg.Connection, name: str, schema: str) -> None:
    for (slot,) in pg.execute(
        "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s",
        (f"headwater_{name}%",),
    ).fetchall():
        pg.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
            "WHERE slot_name = %s AND active_pid IS NOT NULL",
            (slot,),
        )
        pg.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    pg.execute(f'DROP PUBLICATION IF EXISTS "headwater_{name}"')
    pg.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session", autouse=True)
def _drop_leftovers_of_killed_runs(pg_url: str) -> None:
    """Slots, publications and schemas of test sources that a killed test run could not
    drop: a slot left behind pins WAL and takes one of the server's few slots. (Two test
    runs at once against one server would drop each other's: CI runs one.)"""
    url = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url, autocommit=True) as pg:
        names = {
            row[0]
            for row in pg.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname ~ '^cdc_[0-9a-f]{8}$'"
            ).fetchall()
        }
        names |= {
            row[0].removeprefix("headwater_")[:12]
            for row in pg.execute(
                "SELECT slot_name FROM pg_replication_slots "
                "WHERE slot_name ~ '^headwater_cdc_[0-9a-f]{8}' AND NOT active"
            ).fetchall()
        }
        for name in names:
            _cleanup(pg, name, name)


@pytest.fixture
def cdc_source(pg_url: str, tmp_path: Path) -> Iterator[CdcSource]:
    """A fresh schema `cdc_<hex>` and a source of the same name; the slot, publication and
    schema are dropped afterwards (a slot left behind pins WAL forever)."""
    name = "cdc_" + uuid.uuid4().hex[:8]
    url = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    pg = psycopg.connect(url, autocommit=True)
    pg.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield CdcSource(name, name, url, pg, tmp_path)
    finally:
        _cleanup(pg, name, name)
        pg.close()


# -- comparing the source with the warehouse --------------------------------------------


def normalize(value: Any) -> Any:
    """One comparable form for a value read from PostgreSQL (psycopg) or DuckDB."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo is None else value.timestamp()
    if isinstance(value, date | time | timedelta | uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list | tuple):
        return tuple(normalize(item) for item in value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def normalize_json(value: Any, parsed: bool) -> Any:
    """psycopg returns JSON parsed, DuckDB as text: one sorted dump of both."""
    if value is None:
        return None
    return json.dumps(value if parsed else json.loads(value), sort_keys=True)


def checksum(rows: list[tuple[Any, ...]]) -> tuple[int, int]:
    """(row count, order-independent checksum of every column of every row)."""
    total = 0
    for row in rows:
        total = (total + int(hashlib.md5(repr(row).encode()).hexdigest()[:16], 16)) % (1 << 64)
    return len(rows), total


def source_rows(
    cdc: CdcSource, table: str, columns: list[str], json_columns: tuple[str, ...] = ()
) -> list[tuple[Any, ...]]:
    """Every row of a source table, normalized."""
    names = ", ".join(f'"{c}"' for c in columns)
    rows = cdc.pg.execute(f'SELECT {names} FROM "{cdc.schema}"."{table}"').fetchall()
    return [_normal_row(row, columns, json_columns, parsed=True) for row in rows]


def warehouse_rows(
    project: Project,
    schema: str,
    table: str,
    columns: list[str],
    json_columns: tuple[str, ...] = (),
    where: str = "",
) -> list[tuple[Any, ...]]:
    """Every row of a warehouse table (optionally filtered), normalized."""
    names = ", ".join(f'"{c}"' for c in columns)
    with Warehouse(project).reader() as conn:
        rows = conn.execute(f'SELECT {names} FROM "{schema}"."{table}" {where}').fetchall()
    return [_normal_row(row, columns, json_columns, parsed=False) for row in rows]


def _normal_row(
    row: tuple[Any, ...], columns: list[str], json_columns: tuple[str, ...], parsed: bool
) -> tuple[Any, ...]:
    return tuple(
        normalize_json(value, parsed) if name in json_columns else normalize(value)
        for name, value in zip(columns, row, strict=True)
    )


def assert_same(expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]]) -> None:
    """Equal checksums; on a mismatch, show a few differing rows."""
    if checksum(expected) == checksum(actual):
        return
    missing = [r[:400] for r in sorted(set(map(repr, expected)) - set(map(repr, actual)))[:3]]
    extra = [r[:400] for r in sorted(set(map(repr, actual)) - set(map(repr, expected)))[:3]]
    raise AssertionError(
        f"source has {len(expected)} rows, warehouse {len(actual)};\n"
        f"only in source: {missing}\nonly in warehouse: {extra}"
    )
