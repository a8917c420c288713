"""Refuse SQL that is not one read-only statement over the warehouse.

Two parsers check every query against the same policy (`headwater.query.policy`): sqlglot
first (readable reasons for the common cases), then DuckDB's own parser, so that SQL which
sqlglot reads differently from DuckDB (comments, string quoting, new syntax) is judged by
what DuckDB will actually run. The session that runs the query is locked down as well
(`headwater.query.session`); the parsers remain the guard for what that lockdown cannot stop.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from headwater.query.duckdb_check import check_with_duckdb
from headwater.query.errors import InvalidSqlError, QueryTooLargeError, UnsafeQueryError
from headwater.query.policy import function_refusal, table_function_refusal, table_refusal

MAX_SQL_BYTES = 100 * 1024
"""Longest SQL text accepted (UTF-8 bytes), checked before parsing."""

READ_STATEMENTS = "SELECT, WITH ... SELECT, UNION/INTERSECT/EXCEPT, VALUES, DESCRIBE, SUMMARIZE"
"""The statements a query may be, for messages."""

_READ_ROOTS: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.SetOperation,
    exp.Values,
    exp.Subquery,
    exp.Describe,
    exp.Summarize,
)

_WRITES: tuple[type[exp.Expression], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Copy,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Command,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.LoadData,
    exp.Export,
    exp.Into,
    exp.Show,
)
"""Nodes refused wherever they are nested (sqlglot may accept some inside a SELECT)."""

_TABLE_POSITIONS: tuple[type[exp.Expression], ...] = (exp.From, exp.Join, exp.Lateral, exp.Table)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_read_only(sql: str) -> None:
    """Return when `sql` is exactly one read statement over the warehouse; otherwise raise
    `UnsafeQueryError` (or its kinds `InvalidSqlError`, `QueryTooLargeError`) saying why.

    Allowed: SELECT, WITH ... SELECT, set operations, VALUES, DESCRIBE and SUMMARIZE over
    plain `(lake.)schema.table` names and a few harmless table functions (`range`,
    `generate_series`, `unnest`, DuckLake's snapshot views). Refused: everything that
    writes, changes settings, attaches, installs or loads, exports, or reads files, the
    network or other databases, in any case and at any depth."""
    size = len(sql.encode("utf-8"))
    if size > MAX_SQL_BYTES:
        raise QueryTooLargeError(
            f"the SQL is {size:,} bytes; the limit is {MAX_SQL_BYTES:,} bytes: shorten it"
        )
    if "\x00" in sql:
        raise InvalidSqlError("the SQL contains a NUL character: remove it")
    statement = _parse_one(sql)
    _check_tree(statement)
    check_with_duckdb(sql)


def _parse_one(sql: str) -> exp.Expression:
    try:
        parsed = sqlglot.parse(sql, read="duckdb")
    except SqlglotError as exc:
        message = " ".join(_ANSI.sub("", str(exc)).split())
        raise InvalidSqlError(f"the SQL does not parse: {message}") from None
    # sqlglot keeps a comment after the last ';' as a Semicolon node: not a statement.
    statements = [
        statement
        for statement in parsed
        if statement is not None and not isinstance(statement, exp.Semicolon)
    ]
    if not statements:
        raise InvalidSqlError(f"the SQL is empty: send one statement ({READ_STATEMENTS})")
    if len(statements) > 1:
        raise UnsafeQueryError(
            f"send exactly one statement; this SQL holds {len(statements)} (separated by ';')"
        )
    statement = statements[0]
    if not isinstance(statement, _READ_ROOTS) or isinstance(statement, _WRITES):
        raise UnsafeQueryError(
            f"only read statements ({READ_STATEMENTS}) are allowed, not "
            f"{_statement_name(statement)}"
        )
    return statement


def _statement_name(node: exp.Expr) -> str:
    """`COPY`, `LOAD`, `CREATE` ... for messages."""
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.TruncateTable):
        return "TRUNCATE"
    if isinstance(node, exp.Into):
        return "SELECT ... INTO (it writes a table)"
    if isinstance(node, exp.Column):  # sqlglot reads a lone keyword (CHECKPOINT) as a column
        return f"'{node.sql(dialect='duckdb')}' (not a query)"
    return type(node).__name__.upper()


def _check_tree(statement: exp.Expression) -> None:
    for node in statement.walk():
        if isinstance(node, _WRITES):
            raise UnsafeQueryError(
                f"only read statements ({READ_STATEMENTS}) are allowed; the query contains "
                f"{_statement_name(node)}"
            )
        if isinstance(node, exp.Table):
            _check_table(node)
        elif isinstance(node, exp.Func):
            _check_function(node)


def _check_table(table: exp.Table) -> None:
    if isinstance(table.this, exp.Func):
        return  # a table function: judged when the walk reaches it
    if not isinstance(table.this, exp.Identifier):
        raise UnsafeQueryError(
            f"unsupported table reference {table.sql(dialect='duckdb')!r}: "
            "name tables as schema.table"
        )
    reason = table_refusal(table.catalog, table.db, table.name)
    if reason:
        raise UnsafeQueryError(reason)


def _function_names(node: exp.Func) -> list[str]:
    if isinstance(node, exp.Anonymous):
        return [node.name]
    # sqlglot maps DuckDB names onto its own classes (read_csv -> ReadCSV): check every name
    # the class answers to; DuckDB's parser checks the name as written afterwards.
    return [*type(node).sql_names(), node.key]


def _check_function(node: exp.Func) -> None:
    names = _function_names(node)
    for name in names:
        reason = function_refusal(name)
        if reason:
            raise UnsafeQueryError(reason)
    # Where a table goes (not, e.g., a JOIN's ON condition, which is also Join's child).
    if isinstance(node.parent, _TABLE_POSITIONS) and node.arg_key == "this":
        reasons = [table_function_refusal(name) for name in names]
        if all(reasons):
            raise UnsafeQueryError(str(reasons[0]))
