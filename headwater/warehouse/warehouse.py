"""Open the DuckLake warehouse: reader and writer sessions, and dlt's destination for it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from headwater.config.project import Project, read_secret
from headwater.errors import TerminalError, TransientError, is_transient_message
from headwater.warehouse.extensions import connection_config, ensure_extensions
from headwater.warehouse.lock import write_lock
from headwater.warehouse.sql import quote_identifier, quote_literal

if TYPE_CHECKING:
    from dlt.common.destination import Destination

LAKE = "lake"
"""Name the DuckLake catalog is attached under in every session."""

STAGING_SCHEMA_LAYOUT = "_hw_staging_%s"
"""Schema of dlt's staging tables for schema %s; schemas starting with `_` are Headwater's."""


_NO_LAKE_YET = ("creating a new ducklake is explicitly disabled", "already exists")
"""DuckLake's errors when a catalog has no lake yet, or got one while this process made it."""


@dataclass(frozen=True)
class Warehouse:
    """The project's DuckLake: a catalog (SQLite file or PostgreSQL) plus Parquet data files."""

    project: Project

    @property
    def extension_dir(self) -> Path:
        """Where the pip-packaged DuckDB extensions are installed for this project."""
        return self.project.state_dir / "duckdb_extensions"

    @property
    def data_path(self) -> Path:
        """Directory of the Parquet data files."""
        return self.project.path(self.project.config.warehouse.data_path)

    @property
    def catalog_path(self) -> Path | None:
        """The SQLite catalog file, or None for a PostgreSQL catalog."""
        catalog = self.project.config.warehouse.catalog
        return self.project.path(catalog.path) if catalog.type == "sqlite" else None

    @property
    def lock_file(self) -> Path | None:
        """File lock serializing writers to a SQLite catalog (None for PostgreSQL)."""
        catalog = self.catalog_path
        return catalog.with_suffix(".write.lock") if catalog is not None else None

    def describe(self) -> str:
        """Where the warehouse lives, for people."""
        catalog = self.catalog_path or "postgres catalog"
        return f"catalog {catalog}, data {self.data_path}"

    def _catalog_target(self) -> tuple[str, str]:
        """(ATTACH target, extra options) for the configured catalog."""
        catalog = self.project.config.warehouse.catalog
        if catalog.type == "postgres":
            assert catalog.url_env is not None
            url = read_secret(catalog.url_env, "warehouse", "warehouse.catalog.url_env")
            # dlt keeps DuckLake's tables in the schema named after the lake: every other
            # session must look there too, or it would find (or create) an empty lake.
            return f"ducklake:postgres:{url}", f", METADATA_SCHEMA {quote_literal(LAKE)}"
        path = self.catalog_path
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers in other processes see the last commit while a writer works.
        return f"ducklake:sqlite:{path}", ", META_JOURNAL_MODE 'WAL', META_BUSY_TIMEOUT 10000"

    def _attach_sql(self, read_only: bool) -> str:
        target, extra = self._catalog_target()
        options = [f"DATA_PATH {quote_literal(str(self.data_path) + '/')}"]
        if read_only:
            options.append("READ_ONLY")
        return (
            f"ATTACH IF NOT EXISTS {quote_literal(target)} AS {LAKE} ({', '.join(options)}{extra})"
        )

    def connect(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the lake attached as `lake` and selected."""
        ensure_extensions(self.extension_dir)
        self.data_path.mkdir(parents=True, exist_ok=True)
        if read_only and self.catalog_path is not None and not self.catalog_path.exists():
            # A read-only attach cannot create the catalog: create the empty lake first.
            self.ensure_created()
        try:
            return self._attach(read_only)
        except duckdb.Error as exc:
            message = str(exc).lower()
            if not any(marker in message for marker in _NO_LAKE_YET):
                raise _classify(exc, "opening the warehouse") from exc
        # A new PostgreSQL catalog: a reader found no lake yet, or another process created
        # the lake while this one did. Create it (once more) and attach again.
        if read_only:
            self.ensure_created()
        try:
            return self._attach(read_only)
        except duckdb.Error as exc:
            raise _classify(exc, "opening the warehouse") from exc

    def _attach(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        conn = duckdb.connect(config=connection_config(self.extension_dir))
        try:
            conn.execute(self._attach_sql(read_only))
            conn.execute(f"USE {LAKE}")
        except duckdb.Error:
            conn.close()
            raise
        return conn

    def ensure_created(self) -> None:
        """Create the lake's catalog unless it exists. Call it before concurrent writers
        first meet a new catalog: DuckLake's initialization is not safe to race."""
        with self.writer():
            pass

    @contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only session; sees the last committed snapshot, never blocks on writers."""
        conn = self.connect(read_only=True)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write session holding the write lock (SQLite catalog) for its lifetime."""
        with self.write_lock():
            conn = self.connect(read_only=False)
            try:
                yield conn
            finally:
                conn.close()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Serialize writers on a SQLite catalog; readers never take this lock."""
        timeout = self.project.config.warehouse.write_lock_timeout_seconds
        with write_lock(self.lock_file, timeout):
            yield

    def dlt_destination(self) -> Destination[Any, Any]:
        """dlt's DuckLake destination pointed at this warehouse, loading extensions offline."""
        import dlt
        from dlt.destinations.impl.ducklake.configuration import DuckLakeCredentials

        ensure_extensions(self.extension_dir)
        self.data_path.mkdir(parents=True, exist_ok=True)
        catalog = self.project.config.warehouse.catalog
        if catalog.type == "postgres":
            assert catalog.url_env is not None
            catalog_url = read_secret(catalog.url_env, "warehouse", "warehouse.catalog.url_env")
        else:
            assert self.catalog_path is not None
            self.catalog_path.parent.mkdir(parents=True, exist_ok=True)
            catalog_url = f"sqlite:///{self.catalog_path}"
        credentials = DuckLakeCredentials(
            ducklake_name=LAKE,
            catalog=catalog_url,
            storage=self.data_path.as_uri(),
            metadata_schema=LAKE,
        )
        credentials.global_config = connection_config(self.extension_dir)
        # insert-from-staging swaps the table in one transaction: a killed replace leaves the
        # previous rows visible (truncate-and-insert would not). dlt's staging tables live in
        # `_hw_staging_<schema>`: bookkeeping, so it stays out of the user's schema names.
        return dlt.destinations.ducklake(
            credentials=credentials,
            replace_strategy="insert-from-staging",
            staging_dataset_name_layout=STAGING_SCHEMA_LAYOUT,
        )

    def schemas(self, conn: duckdb.DuckDBPyConnection) -> list[str]:
        """Schemas of the lake."""
        # Literals, not `?` parameters: binding Python parameters makes duckdb import pandas
        # (about 2 s), which every CLI call would pay.
        rows = conn.execute(
            "SELECT schema_name FROM information_schema.schemata "
            f"WHERE catalog_name = {quote_literal(LAKE)} ORDER BY 1"
        ).fetchall()
        return [row[0] for row in rows]

    def row_counts(
        self, conn: duckdb.DuckDBPyConnection, schema: str | None = None
    ) -> dict[tuple[str, str], int]:
        """(schema, table) -> row count for user tables; dlt's `_dlt_*` tables and Headwater's
        `_`-prefixed schemas (staging) left out."""
        query = (
            "SELECT table_schema, table_name FROM information_schema.tables "
            f"WHERE table_catalog = {quote_literal(LAKE)} AND NOT starts_with(table_name, '_dlt_') "
            "AND NOT starts_with(table_schema, '_') "
            + (f"AND table_schema = {quote_literal(schema)} " if schema else "")
            + "ORDER BY 1, 2"
        )
        tables = conn.execute(query).fetchall()
        if not tables:
            return {}
        union = " UNION ALL ".join(
            f"SELECT {quote_literal(s)}, {quote_literal(t)}, count(*) FROM {quote_identifier(s, t)}"
            for s, t in tables
        )
        return {(s, t): int(n) for s, t, n in conn.execute(union).fetchall()}


def raw_schema(source: str) -> str:
    """Schema where source `source` lands."""
    return f"raw_{source}"


def _classify(exc: duckdb.Error, doing: str) -> Exception:
    message = re.sub(r"\s+", " ", str(exc)).strip()
    if is_transient_message(message):
        return TransientError(f"{doing}: {message}")
    return TerminalError(f"{doing}: {message}")


def table_columns(conn: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict[str, str]]:
    """(schema, table) -> {column: type}, in column order, for the lake's user tables and
    views; dlt's `_dlt_*` tables and Headwater's `_`-prefixed schemas left out."""
    rows = conn.execute(
        "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
        f"WHERE table_catalog = {quote_literal(LAKE)} AND NOT starts_with(table_name, '_dlt_') "
        "AND NOT starts_with(table_schema, '_') "
        "ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall()
    columns: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, data_type in rows:
        columns.setdefault((schema, table), {})[column] = data_type
    return columns
