"""The `sql` connector: tables of a SQLite, PostgreSQL or MySQL/MariaDB database as Arrow."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import sqlalchemy as sa

from connectors.base import BackfillWindow, CheckReport, Connector, TableSpec, resolve_options
from connectors.sql.cursor import coerce_cursor_value
from connectors.sql.database import Database, Inspection, SourceTable, resolve_url
from connectors.sql.loaders import DUCKDB_DIALECTS, guarded_loader
from headwater.config.sources import CursorValue, SqlSource, SqlTable
from headwater.errors import ConnectorError
from headwater.warehouse.warehouse import Warehouse

if TYPE_CHECKING:
    from dlt.extract.incremental import Incremental
    from dlt.extract.resource import DltResource
    from dlt.sources.sql_database import TableBackend


class SqlConnector(Connector[SqlSource]):
    """Reads whole tables, or only new rows by a cursor column, through SQLAlchemy with an
    Arrow backend (DuckDB's postgres scanner for PostgreSQL by default)."""

    type: ClassVar[str] = "sql"

    # --- Connector API ---------------------------------------------------------------

    def tables(self) -> list[TableSpec]:
        """The configured tables (or every table of the schema), keys and cursors resolved
        from the database; ConnectorError when a table, column or key is missing."""
        with self._inspection() as inspection:
            return self._resolve(inspection)

    def check(self) -> CheckReport:
        """Connect, resolve the tables and report their approximate row counts."""
        with self._inspection() as inspection:
            specs = self._resolve(inspection)
            details: dict[str, str] = {}
            for spec in specs:
                with inspection.db.errors(spec.name, f"counting rows of '{spec.name}' in"):
                    rows, exact = inspection.row_count(spec.name)
                details[spec.name] = _describe(spec, rows, exact)
        return CheckReport(tables=specs, details=details)

    def resource(self, table: TableSpec, window: BackfillWindow | None = None) -> DltResource:
        """A dlt `sql_table` resource for `table` yielding Arrow tables of `chunk_size` rows."""
        import dlt
        from dlt.sources.sql_database import sql_table

        db = self._database()
        engine = db.engine()
        metadata = sa.MetaData(schema=self.config.schema_name)
        with db.errors(table.name, f"reading the columns of table '{table.name}' from"):
            try:
                source_table = sa.Table(table.name, metadata, autoload_with=engine)
            except sa.exc.NoSuchTableError:
                raise ConnectorError(
                    self.name,
                    table.name,
                    f"table '{table.name}' not found in schema "
                    f"{self.config.schema_name or 'default'} of {db.display}",
                ) from None
            try:
                incremental = self._incremental(table, source_table, engine, window)
            except _EmptyBackfillError:
                # An empty table: nothing to read, and no state to touch.
                return dlt.resource([], name=table.name, write_disposition=table.write_disposition)
        backend, dlt_backend, backend_kwargs = self._backend(db)
        return sql_table(
            credentials=engine,
            table=table.name,
            schema=self.config.schema_name,
            metadata=metadata,
            incremental=incremental,
            chunk_size=self.config.chunk_size,
            backend=dlt_backend,
            reflection_level="full",
            backend_kwargs=backend_kwargs,
            write_disposition=table.write_disposition,
            primary_key=table.primary_key,
            table_loader_class=guarded_loader(backend, db, table.name),
        )

    def source_row_count(self, table: TableSpec) -> int | None:
        """`SELECT count(*)` of the table; for an incremental table with an
        `initial_value`, only rows from it on (what syncs load). Rows changed since the
        last sync are counted too: a difference can be rows the next sync will bring."""
        db = self._database()
        engine = db.engine()
        try:
            with (
                db.errors(table.name, f"counting rows of '{table.name}' in"),
                engine.connect() as conn,
            ):
                metadata = sa.MetaData(schema=self.config.schema_name)
                source_table = sa.Table(table.name, metadata, autoload_with=conn)
                query = sa.select(sa.func.count()).select_from(source_table)
                config = self._options(table.name).incremental
                if table.cursor and config is not None and config.initial_value is not None:
                    column = source_table.c[table.cursor]
                    initial = self._coerce(table.name, config.initial_value, column.type,
                                           "incremental.initial_value")
                    query = query.where(column >= initial)
                return int(conn.execute(query).scalar_one())
        finally:
            engine.dispose()

    # --- resolving tables -------------------------------------------------------------

    def _database(self) -> Database:
        return resolve_url(self.name, self.config, self.project)

    @contextmanager
    def _inspection(self) -> Iterator[Inspection]:
        db = self._database()
        engine = db.engine()
        try:
            with db.errors(None, "connecting to"), engine.connect() as conn:
                yield Inspection(db, conn, self.config.schema_name)
        finally:
            engine.dispose()

    def _resolve(self, inspection: Inspection) -> list[TableSpec]:
        names = (
            list(self.config.tables) if self.config.tables is not None else inspection.table_names
        )
        specs = []
        for name in names:
            with inspection.db.errors(name, f"reading the columns of table '{name}' from"):
                found = inspection.find(name)
            specs.append(self._spec(found))
        return specs

    def _options(self, table: str) -> SqlTable:
        return (self.config.tables or {}).get(table) or SqlTable()

    def _spec(self, found: SourceTable) -> TableSpec:
        options = self._options(found.name)
        disposition, allow_empty = resolve_options(self.config, options)
        primary_key = options.primary_key or found.primary_key
        for column in options.primary_key or []:
            self._require_column(found, column, "primary_key")
        cursor = options.incremental.cursor if options.incremental else None
        if cursor is not None:
            self._require_column(found, cursor, "incremental.cursor")
            if options.incremental and options.incremental.initial_value is not None:
                self._coerce(
                    found.name,
                    options.incremental.initial_value,
                    found.columns[cursor],
                    "incremental.initial_value",
                )
        if disposition == "merge" and not primary_key:
            raise ConnectorError(
                self.name,
                found.name,
                "write_disposition is merge but the table has no primary key in the database "
                "and none is configured; set "
                f"sources.{self.name}.tables.{found.name}.primary_key: [column, ...] in "
                "project.yml (or use append/replace)",
            )
        return TableSpec(
            name=found.name,
            write_disposition=disposition,
            primary_key=list(primary_key),
            cursor=cursor,
            allow_empty_replace=allow_empty,
        )

    def _require_column(self, found: SourceTable, column: str, field: str) -> None:
        if column not in found.columns:
            raise ConnectorError(
                self.name,
                found.name,
                f"{field} column '{column}' not found in table '{found.name}'; columns there: "
                f"{', '.join(found.columns)}",
            )

    def _coerce(
        self, table: str, value: CursorValue, column_type: sa.types.TypeEngine[Any], field: str
    ) -> Any:
        try:
            return coerce_cursor_value(value, column_type)
        except ValueError as exc:
            raise ConnectorError(
                self.name,
                table,
                f"{field} {value!r} does not fit the cursor column's type {column_type}: {exc}",
            ) from None

    # --- extraction settings ------------------------------------------------------------

    def _incremental(
        self,
        table: TableSpec,
        source_table: sa.Table,
        engine: sa.Engine,
        window: BackfillWindow | None,
    ) -> Incremental[Any] | None:
        """dlt's incremental for the table's cursor (None without one). A window sets
        `end_value`, which makes dlt leave the saved cursor alone; _EmptyBackfillError when
        the window has no bounds and the table no rows."""
        import dlt

        if table.cursor is None:
            return None
        if table.cursor not in source_table.c:
            raise ConnectorError(
                self.name, table.name, f"incremental.cursor column '{table.cursor}' not found"
            )
        column = source_table.c[table.cursor]
        config = self._options(table.name).incremental
        initial = None
        if config is not None and config.initial_value is not None:
            initial = self._coerce(
                table.name, config.initial_value, column.type, "incremental.initial_value"
            )
        if window is None:
            return dlt.sources.incremental(table.cursor, initial_value=initial)
        start = (
            self._coerce(table.name, window.start, column.type, "backfill start")
            if window.start is not None
            else initial
        )
        end = (
            self._coerce(table.name, window.end, column.type, "backfill end")
            if window.end is not None
            else None
        )
        with engine.connect() as conn:
            if start is None:
                start = conn.execute(sa.select(sa.func.min(column))).scalar()
            # An open-ended window stops at today's last row, included, so it stays stateless.
            range_end: Literal["open", "closed"] = "open" if end is not None else "closed"
            if end is None:
                end = conn.execute(sa.select(sa.func.max(column))).scalar()
        if start is None or end is None:
            raise _EmptyBackfillError
        return dlt.sources.incremental(
            table.cursor, initial_value=start, end_value=end, range_end=range_end
        )

    def _backend(self, db: Database) -> tuple[str, TableBackend, dict[str, Any]]:
        """(loader, dlt backend name, backend kwargs) for the configured backend."""
        backend = self.config.backend
        if backend == "duckdb" and db.dialect in DUCKDB_DIALECTS:
            extension_dir = Warehouse(self.project).extension_dir
            return "duckdb", "pyarrow", {"extension_dir": str(extension_dir)}
        if backend == "connectorx":
            if importlib.util.find_spec("connectorx") is None:
                raise ConnectorError(
                    self.name,
                    None,
                    "backend connectorx needs the connectorx package "
                    "(pip install connectorx); or set backend: duckdb or pyarrow",
                )
            # Streaming keeps memory at one chunk; plain connectorx reads the whole table.
            kwargs = {"return_type": "arrow_stream", "batch_size": self.config.chunk_size}
            return "connectorx", "connectorx", kwargs
        # MySQL/MariaDB and SQLite have no pip-packaged DuckDB reader here: pyarrow.
        return "pyarrow", "pyarrow", {"tz": "UTC"}


class _EmptyBackfillError(Exception):
    """A backfill window without bounds over an empty table."""


def _describe(spec: TableSpec, rows: int, exact: bool) -> str:
    parts = [f"{rows:,} rows" if exact else f"~{rows:,} rows (estimate)"]
    if spec.cursor:
        parts.append(f"cursor {spec.cursor}")
    if spec.primary_key:
        parts.append(f"primary key {', '.join(spec.primary_key)}")
    parts.append(spec.write_disposition)
    return "; ".join(parts)
