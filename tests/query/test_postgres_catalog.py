"""The locked-down query session over a DuckLake whose catalog is PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy

from headwater.config import load_project
from headwater.query import UnsafeQueryError, check_read_only, run_query
from headwater.query.session import query_session
from headwater.warehouse import Warehouse

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_catalog_url(pg_url: str) -> Iterator[str]:
    """A libpq URL of a fresh database for the catalog, dropped afterwards."""
    name = "hw_query_" + uuid.uuid4().hex[:8]
    engine = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    base = pg_url.replace("postgresql+psycopg://", "postgresql://", 1).rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    engine.dispose()


def test_lockdown_keeps_a_postgres_catalog_readable(
    pg_catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HW_TEST_LAKE_URL", pg_catalog_url)
    (tmp_path / "project.yml").write_text(
        "project:\n  name: pg\n"
        "warehouse:\n  catalog:\n    type: postgres\n    url_env: HW_TEST_LAKE_URL\n"
    )
    warehouse = Warehouse(load_project(tmp_path / "project.yml"))
    with warehouse.writer() as conn:
        conn.execute("CREATE SCHEMA raw_x")
        conn.execute("CREATE TABLE raw_x.items AS SELECT range AS id FROM range(1000)")
    assert run_query(warehouse, "SELECT count(*) FROM raw_x.items", 1, 10).rows == [[1000]]
    with warehouse.writer() as conn:
        conn.execute("INSERT INTO raw_x.items VALUES (1000)")
    assert run_query(warehouse, "SELECT max(id) FROM raw_x.items", 1, 10).rows == [[1000]]

    with (
        pytest.raises(UnsafeQueryError, match="sandbox refused"),
        query_session(warehouse) as conn,
    ):
        conn.execute("SELECT * FROM read_text('/etc/passwd')").fetchall()
    # postgres_scanner, loaded for the catalog, is not sandboxed by DuckDB: the parsers
    # refuse it, and the catalog's connection string stays out of reach.
    for sql in (
        f"SELECT * FROM postgres_scan('{pg_catalog_url}', 'public', 'ducklake_snapshot')",
        "SELECT * FROM postgres_query('__ducklake_metadata_lake', 'SELECT 1')",
        "SELECT path FROM duckdb_databases()",
    ):
        with pytest.raises(UnsafeQueryError):
            check_read_only(sql)
