"""Connections to the source PostgreSQL: ordinary sessions and replication sessions.

Every session uses the same output settings (UTC, ISO dates, full float precision), because
values travel as PostgreSQL's text form: the snapshot (COPY) and the change stream
(pgoutput) then write identical text for identical values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from connectors.sql.database import driver_message
from headwater.config.project import read_secret
from headwater.config.sources import PostgresCdcSource
from headwater.errors import (
    ConnectorError,
    HeadwaterError,
    TransientConnectorError,
    is_transient_message,
)

CONNECT_TIMEOUT_SECONDS = 10
"""How long to wait for the server before calling it unreachable (transient)."""

SESSION_OPTIONS = (
    "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=postgres -c extra_float_digits=3 "
    "-c bytea_output=hex"
)
"""Output settings of every session (see the module docstring)."""



@dataclass(frozen=True)
class SourceDatabase:
    """The source's connection string (with its secret) and the names errors use."""

    source: str
    """Source name, used in every error message."""
    conninfo: str
    """libpq connection string, password included."""

    @property
    def display(self) -> str:
        """host:port/dbname, safe to print."""
        params = conninfo_to_dict(self.conninfo)
        host, port = params.get("host", "localhost"), params.get("port", 5432)
        return f"{host}:{port}/{params.get('dbname', '')}"

    def connect(self, *, autocommit: bool = True, replication: bool = False) -> psycopg.Connection:
        """A session with the shared output settings; `replication` opens a logical
        replication session (only replication commands, sent with `exec_replication`)."""
        conninfo = make_conninfo(
            self.conninfo,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            options=SESSION_OPTIONS,
            replication="database" if replication else None,
        )
        with self.errors(None, "connecting"):
            return psycopg.connect(conninfo, autocommit=autocommit)

    @contextmanager
    def session(self, *, autocommit: bool = True) -> Iterator[psycopg.Connection]:
        """`connect()` as a context manager that closes the session."""
        conn = self.connect(autocommit=autocommit)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def errors(self, table: str | None = None, doing: str = "reading") -> Iterator[None]:
        """Turn psycopg errors raised in the block into connector errors naming the source,
        the table and what was being done; connection trouble is transient."""
        try:
            yield
        except HeadwaterError:
            raise
        except psycopg.Error as exc:
            raise self.error(exc, table, doing) from exc

    def error(self, exc: BaseException, table: str | None, doing: str) -> HeadwaterError:
        """The connector error for driver error `exc`."""
        message = f"{doing} {self.display} failed: {driver_message(exc)}"
        if isinstance(exc, psycopg.OperationalError) and is_transient_message(message):
            return TransientConnectorError(self.source, table, message)
        return ConnectorError(self.source, table, message)


def source_database(name: str, config: PostgresCdcSource) -> SourceDatabase:
    """The source's database with its secret read from the environment."""
    if config.url_env is not None:
        raw = read_secret(config.url_env, name, "url_env")
    else:
        assert config.url is not None  # the config model requires one of them
        raw = config.url
    try:
        params = conninfo_to_dict(raw)
    except psycopg.ProgrammingError:
        field = "url_env" if config.url_env else "url"
        raise ConnectorError(
            name, None, f"{field} is not a PostgreSQL URL (like postgresql://user@host/db)"
        ) from None
    if config.password_env is not None:
        params["password"] = read_secret(config.password_env, name, "password_env")
    return SourceDatabase(name, make_conninfo(**{k: str(v) for k, v in params.items()}))


def exec_replication(conn: psycopg.Connection, command: str) -> list[tuple[str | None, ...]]:
    """Run one replication command (e.g. CREATE_REPLICATION_SLOT) on a replication session.

    Replication sessions speak only the simple query protocol, which psycopg's cursors do
    not use, so the command goes through libpq directly."""
    result = conn.pgconn.exec_(command.encode())
    if result.status not in (psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.COMMAND_OK):
        message = result.get_error_message("utf-8") or "replication command failed"
        raise psycopg.OperationalError(message)
    return [
        tuple(
            None if (value := result.get_value(row, col)) is None else value.decode()
            for col in range(result.nfields)
        )
        for row in range(result.ntuples)
    ]
