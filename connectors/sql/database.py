"""The source database: its URL, an engine, what is in it, and its errors in plain words."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from headwater.config.project import Project, read_secret
from headwater.config.sources import SqlSource
from headwater.errors import (
    ConnectorError,
    HeadwaterError,
    TransientConnectorError,
    is_transient_message,
)

CONNECT_TIMEOUT_SECONDS = 10
"""How long to wait for the server to answer before calling it unreachable (transient)."""

# Plain dialect names map to drivers that ship with Headwater (psycopg 3 and PyMySQL), so
# users can paste the URL their DBA gave them.
_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}

# Name-resolution failures read like connection failures but are almost always typos, so
# they are checked first and stay terminal.
_TERMINAL_MARKERS = ("name or service not known", "nodename nor servname", "could not translate")


@dataclass(frozen=True)
class Database:
    """Where a source's data lives: the full URL (with secrets) and a safe one to show."""

    source: str
    """Source name, used in every error message."""
    url: URL
    """SQLAlchemy URL with the password filled in and the driver chosen."""

    @property
    def dialect(self) -> str:
        """Backend name: `postgresql`, `mysql`, `mariadb` or `sqlite`."""
        return self.url.get_backend_name()

    @property
    def display(self) -> str:
        """The URL without driver and password, for messages."""
        return self.url.set(drivername=self.dialect, password=None).render_as_string()

    def engine(self) -> Engine:
        """An engine that keeps no idle connections (each sync is a short burst of reads)."""
        connect_args: dict[str, Any] = {}
        if self.dialect in ("postgresql", "mysql", "mariadb"):
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        return sa.create_engine(self.url, poolclass=NullPool, connect_args=connect_args)

    @contextmanager
    def errors(self, table: str | None = None, doing: str = "reading") -> Iterator[None]:
        """Turn driver errors raised inside the block into Connector errors naming the
        source, the table and the server."""
        try:
            yield
        except HeadwaterError:
            raise
        except Exception as exc:
            if not _is_database_error(exc):
                raise
            raise self.error(exc, table, doing) from exc

    def error(
        self, exc: BaseException, table: str | None, doing: str
    ) -> ConnectorError | TransientConnectorError:
        """A one-line Connector error for a driver error: transient when the server may
        answer later (refused, timeout), terminal otherwise (auth, unknown database)."""
        cause = driver_message(exc)
        message = f"{doing} {self.display}: {cause}"
        lowered = cause.lower()
        if not any(marker in lowered for marker in _TERMINAL_MARKERS) and is_transient_message(
            cause
        ):
            return TransientConnectorError(self.source, table, message)
        return ConnectorError(self.source, table, message)


def _is_database_error(exc: BaseException) -> bool:
    if isinstance(exc, sa.exc.SQLAlchemyError | OSError):
        return True
    # duckdb is imported lazily elsewhere; recognise its errors by module.
    return type(exc).__module__.startswith(("duckdb", "_duckdb", "psycopg", "pymysql", "sqlite3"))


def driver_message(exc: BaseException) -> str:
    """The driver's own message on one line, without SQLAlchemy's SQL echo and links."""
    orig = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = f"{args[1]} (error {args[0]})"  # PyMySQL: (code, message)
    else:
        text = str(orig)
    # DuckDB's postgres scanner quotes the whole query before the server's own `ERROR:` line.
    server = re.search(r"ERROR:\s+(.+)", text)
    if server:
        return server.group(1).strip()
    lines = [line.strip() for line in text.split("(Background on this error")[0].splitlines()]
    return next((line for line in lines if line), type(orig).__name__)


def resolve_url(name: str, config: SqlSource, project: Project) -> Database:
    """The source's URL with its secret read from the environment, the driver chosen, and a
    relative SQLite path resolved against project.yml."""
    if config.url_env is not None:
        raw = read_secret(config.url_env, name, "url_env")
    else:
        assert config.url is not None  # the config model requires one of them
        raw = config.url
    try:
        url = make_url(raw)
    except sa.exc.ArgumentError:
        field = "url_env" if config.url_env else "url"
        raise ConnectorError(
            name, None, f"{field} is not an SQLAlchemy URL (like postgresql://user@host/db)"
        ) from None
    if config.password_env is not None:
        url = url.set(password=read_secret(config.password_env, name, "password_env"))
    driver = _DRIVERS.get(url.drivername)
    if driver is not None:
        url = url.set(drivername=driver)
    database = url.database
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        path = project.path(database)
        if not path.is_file():
            raise ConnectorError(
                name, None, f"SQLite database file {path} does not exist (from url {raw})"
            )
        url = url.set(database=str(path))
    return Database(name, url)


@dataclass(frozen=True)
class SourceTable:
    """A table found in the source database."""

    name: str
    """Table name as the database spells it."""
    columns: dict[str, sa.types.TypeEngine[Any]]
    """Column name -> reflected type, in table order."""
    primary_key: list[str]
    """The table's primary key columns (empty when it has none)."""


class Inspection:
    """What one connection sees in a schema: tables, views, keys and row counts."""

    def __init__(self, db: Database, conn: sa.Connection, schema: str | None) -> None:
        self.db = db
        self.conn = conn
        self.inspector = sa.inspect(conn)
        self.schema = schema
        self.schema_label = schema or self.inspector.default_schema_name or "default"
        if schema is not None and schema not in self.inspector.get_schema_names():
            known = ", ".join(self.inspector.get_schema_names()) or "none"
            raise ConnectorError(
                db.source,
                None,
                f"schema '{schema}' not found in {db.display}; schemas there: {known}",
            )
        self.table_names: list[str] = self.inspector.get_table_names(schema=schema)
        self.view_names: list[str] = self.inspector.get_view_names(schema=schema)

    def find(self, name: str) -> SourceTable:
        """A table (or view) by name; ConnectorError listing what is there when missing."""
        if name not in self.table_names and name not in self.view_names:
            known = self.table_names + self.view_names
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConnectorError(
                self.db.source,
                name,
                f"table '{name}' not found in schema {self.schema_label} of {self.db.display}; "
                f"tables there: {', '.join(known) or 'none'}{hint}",
            )
        columns = {
            col["name"]: col["type"] for col in self.inspector.get_columns(name, schema=self.schema)
        }
        primary_key = self.inspector.get_pk_constraint(name, schema=self.schema)
        return SourceTable(name, columns, list(primary_key.get("constrained_columns") or []))

    def row_count(self, table: str) -> tuple[int, bool]:
        """(rows, exact): the planner's estimate where the database keeps one, else count(*)."""
        estimate: Any = None
        if self.db.dialect == "postgresql":
            estimate = self.conn.execute(
                sa.text(
                    "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname = :table"
                ),
                {"schema": self.schema_label, "table": table},
            ).scalar()
        elif self.db.dialect in ("mysql", "mariadb"):
            estimate = self.conn.execute(
                sa.text(
                    "SELECT table_rows FROM information_schema.tables "
                    "WHERE table_schema = :schema AND table_name = :table"
                ),
                {"schema": self.schema_label, "table": table},
            ).scalar()
        # PostgreSQL reports -1 for a table never analyzed; then only counting tells.
        if estimate is not None and int(estimate) >= 0:
            return int(estimate), False
        query = sa.select(sa.func.count()).select_from(sa.table(table, schema=self.schema))
        return int(self.conn.execute(query).scalar_one()), True
