"""dlt table loaders: the extraction backends, each wrapped so driver errors name the table.

`duckdb` reads PostgreSQL through DuckDB's postgres scanner (`postgres_query`), which was the
fastest backend measured (bench/sql_backends.py); the query itself is still built by dlt, so
incremental filtering, ordering and limits behave exactly as with the other backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlt.sources.sql_database import BaseTableLoader, TableLoader
from dlt.sources.sql_database.helpers import ConnectorXTableLoader

from connectors.sql.database import Database
from headwater.warehouse.sql import quote_literal

if TYPE_CHECKING:
    import duckdb

DUCKDB_DIALECTS = ("postgresql",)
"""Dialects the duckdb backend reads itself; others fall back to pyarrow."""


class DuckDBTableLoader(BaseTableLoader):
    """Runs dlt's query in PostgreSQL through DuckDB and yields Arrow tables of
    `chunk_size` rows. Needs backend_kwargs `extension_dir` (pip-packaged extensions)."""

    def load_rows(self, backend_kwargs: dict[str, Any] | None = None) -> Iterator[Any]:
        """Yield the rows of dlt's query as Arrow tables."""
        import pyarrow as pa

        options = dict(backend_kwargs or {})
        query = self.compile_query(self.make_query())
        conn = _duckdb_connection(Path(options["extension_dir"]))
        try:
            source = quote_literal(self._libpq_url())
            conn.execute(f"ATTACH {source} AS src (TYPE postgres, READ_ONLY)")
            reader = conn.execute(
                f"SELECT * FROM postgres_query('src', {quote_literal(query)})"
            ).to_arrow_reader(self.chunk_size)
            for batch in reader:
                if batch.num_rows:
                    yield pa.Table.from_batches([batch])
        finally:
            conn.close()

    def _libpq_url(self) -> str:
        url = self.engine.url.set(drivername="postgresql")
        if "connect_timeout" not in url.query:
            url = url.update_query_dict({"connect_timeout": "10"})
        return url.render_as_string(hide_password=False)


def _duckdb_connection(extension_dir: Path) -> duckdb.DuckDBPyConnection:
    import duckdb

    from headwater.warehouse.extensions import connection_config, ensure_extensions

    ensure_extensions(extension_dir)
    config: dict[str, Any] = {**connection_config(extension_dir)}
    conn = duckdb.connect(config=config)
    # timestamptz columns come out as UTC like with the other backends, whatever the host.
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("LOAD postgres_scanner")
    return conn


_BASES: dict[str, type[BaseTableLoader]] = {
    "pyarrow": TableLoader,
    "connectorx": ConnectorXTableLoader,
    "duckdb": DuckDBTableLoader,
}


def guarded_loader(backend: str, db: Database, table: str) -> type[BaseTableLoader]:
    """The loader class of `backend`, raising Connector errors (naming `db.source` and
    `table`) instead of raw driver errors while rows are read."""
    base = _BASES[backend]

    class Guarded(base):  # type: ignore[valid-type,misc]
        def load_rows(self, backend_kwargs: dict[str, Any] | None = None) -> Iterator[Any]:
            with db.errors(table, f"reading table '{table}' from"):
                yield from super().load_rows(backend_kwargs)

    Guarded.__name__ = f"Guarded{base.__name__}"
    return Guarded
