"""Why a query was refused or failed; each message says what is wrong and how to fix it."""

from __future__ import annotations

from headwater.errors import TerminalError


class QueryError(TerminalError):
    """Root of the errors of `headwater.query`."""


class UnsafeQueryError(QueryError):
    """The SQL is not one read-only statement over the warehouse; the message names why."""


class InvalidSqlError(UnsafeQueryError):
    """The SQL does not parse (sqlglot's or DuckDB's message follows)."""


class QueryTooLargeError(UnsafeQueryError):
    """The SQL text is longer than `MAX_SQL_BYTES`."""


class QueryTimeoutError(QueryError):
    """The query ran longer than its time limit and was interrupted."""


class QueryFailedError(QueryError):
    """DuckDB refused or failed the query (unknown table, type error, ...)."""
