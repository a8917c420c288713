"""Assertions on a console's result: row count bounds, columns never NULL, and a SQL
expression that must be true on every row.

The expression is user SQL. It must parse (sqlglot) as one expression over the result's
columns: no statements, subqueries or table references, and none of the functions the query
policy refuses (files, network, settings). What is evaluated is sqlglot's rendering of that
checked tree, in a private in-memory DuckDB that holds only the result and has no file or
network access and locked settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from headwater.config.consoles import ConsoleAssertions
from headwater.query.policy import function_refusal

_EVALUATOR_CONFIG = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,
    "lock_configuration": True,
    "threads": 1,
}
"""The evaluating database reads the registered result and nothing else."""

_RESULT = "result"
"""What the evaluating query calls the console's result."""


@dataclass(frozen=True)
class AssertionResult:
    """The outcome of one assertion."""

    name: str
    """`min_rows`, `max_rows`, `not_null <column>` or `expression <SQL>`."""
    passed: bool
    """Whether the result passed it."""
    message: str
    """What was found, e.g. `not_null revenue: 3 rows are NULL`."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (run history, artifacts, events)."""
        return asdict(self)


class InvalidExpressionError(ValueError):
    """The assertion expression is not one safe SQL expression; the message says why."""


def check_expression(expression: str) -> str:
    """The SQL to evaluate for `expression`, after checking that it is exactly one
    expression over columns (raises `InvalidExpressionError` naming the problem)."""
    try:
        parsed = sqlglot.parse(expression, read="duckdb")
    except SqlglotError as exc:
        raise InvalidExpressionError(f"does not parse: {' '.join(str(exc).split())}") from None
    nodes = [node for node in parsed if node is not None and not isinstance(node, exp.Semicolon)]
    if len(nodes) != 1:
        raise InvalidExpressionError(
            f"must be one expression, not {len(nodes)} statements separated by ';'"
        )
    node = nodes[0]
    if not isinstance(node, exp.Condition):
        raise InvalidExpressionError(
            "must be an expression over the result's columns (e.g. `revenue >= 0`), "
            f"not a {type(node).__name__.upper()} statement"
        )
    for child in node.walk():
        if isinstance(child, exp.Query | exp.Subquery | exp.Table | exp.Command):
            raise InvalidExpressionError(
                "may use only the result's columns: subqueries and table references are "
                "not allowed"
            )
        if isinstance(child, exp.Func):
            names = (
                [child.name] if isinstance(child, exp.Anonymous)
                else [*type(child).sql_names(), child.key]
            )
            for function in names:
                reason = function_refusal(function)
                if reason:
                    raise InvalidExpressionError(reason)
    return str(node.sql(dialect="duckdb"))


def check_assertions(
    table: pa.Table, assertions: ConsoleAssertions | None
) -> list[AssertionResult]:
    """Every configured assertion checked against `table`, in the order of project.yml's
    keys: min_rows, max_rows, not_null (per column), expression."""
    if assertions is None:
        return []
    results: list[AssertionResult] = []
    rows = int(table.num_rows)
    if assertions.min_rows is not None:
        results.append(
            AssertionResult(
                "min_rows",
                rows >= assertions.min_rows,
                f"min_rows: got {rows}, expected at least {assertions.min_rows}",
            )
        )
    if assertions.max_rows is not None:
        results.append(
            AssertionResult(
                "max_rows",
                rows <= assertions.max_rows,
                f"max_rows: got {rows}, expected at most {assertions.max_rows}",
            )
        )
    for column in assertions.not_null:
        results.append(_not_null(table, column))
    if assertions.expression is not None:
        results.append(_expression(table, assertions.expression))
    return results


def _not_null(table: pa.Table, column: str) -> AssertionResult:
    name = f"not_null {column}"
    if column not in table.column_names:
        columns = ", ".join(table.column_names) or "none"
        return AssertionResult(
            name, False, f"{name}: the result has no column '{column}' (its columns: {columns})"
        )
    nulls = int(table.column(column).null_count)
    if nulls == 0:
        return AssertionResult(name, True, f"{name}: no NULLs")
    return AssertionResult(
        name, False, f"{name}: {nulls} {'row is' if nulls == 1 else 'rows are'} NULL"
    )


def _expression(table: pa.Table, expression: str) -> AssertionResult:
    name = f"expression {expression}"
    try:
        checked = check_expression(expression)
    except InvalidExpressionError as exc:
        return AssertionResult(name, False, f"{name}: {exc}")
    conn = duckdb.connect(config=_EVALUATOR_CONFIG)  # type: ignore[arg-type]
    try:
        conn.register(_RESULT, table)
        # NULL is not true: a row where the expression is NULL fails it too.
        row = conn.execute(
            f"SELECT count(*) FROM {_RESULT} WHERE NOT coalesce(({checked}), false)"
        ).fetchone()
    except duckdb.Error as exc:
        return AssertionResult(
            name, False, f"{name}: cannot be evaluated: {' '.join(str(exc).split())}"
        )
    finally:
        conn.close()
    failing = int(row[0]) if row else 0
    if failing == 0:
        return AssertionResult(name, True, f"{name}: true on every row")
    return AssertionResult(
        name, False, f"{name}: false on {failing} {'row' if failing == 1 else 'rows'}"
    )
