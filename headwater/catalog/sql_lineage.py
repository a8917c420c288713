"""Lineage of one arbitrary SQL statement with sqlglot: what it reads, writes and uses.

Backs `POST /lineage` (sql + dialect). Columns are resolved to their base table through
aliases, CTEs and subqueries when the SQL makes that possible; a `schema` (table -> columns)
resolves unqualified columns in joins too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.scope import Scope, traverse_scope

Schema = Mapping[str, Mapping[str, str] | list[str] | tuple[str, ...]]
"""Table name (as written, or its last part) -> its columns (names, or name -> type)."""


@dataclass(frozen=True)
class SqlLineage:
    """What one SQL statement reads and writes."""

    statement_type: str
    """select, insert, create_table_as, create_table, create_view, update, delete, merge, ..."""
    tables_read: tuple[str, ...]
    """Tables (and views) read, as written (`schema.table`), sorted; CTEs are not tables."""
    tables_written: tuple[str, ...]
    """Tables the statement creates or changes."""
    columns_used: tuple[str, ...]
    """Columns referenced, `table.column` when resolvable to a base table, else `column`."""
    ctes: tuple[str, ...]
    """Names of the CTEs defined, in order."""
    dialect: str
    """The SQL dialect it was parsed as."""


def sql_lineage(sql: str, dialect: str = "duckdb", schema: Schema | None = None) -> SqlLineage:
    """Tables read and written, columns used, CTEs and statement type of one statement.

    Raises ValueError naming the problem for unparsable SQL, an unknown dialect, SQL nested
    too deeply to analyse, or anything but exactly one statement."""
    try:
        return _analyse(sql, dialect, schema)
    except RecursionError:  # sqlglot recurses per nesting level: thousands of parentheses
        raise ValueError("SQL nested too deeply to analyse") from None
    except SqlglotError as exc:  # any other sqlglot failure is still a problem of the SQL
        raise ValueError(f"cannot analyse the SQL: {' '.join(str(exc).split())}") from None


def _analyse(sql: str, dialect: str, schema: Schema | None) -> SqlLineage:
    statement = _parse_one(sql, dialect)
    written_nodes = _written(statement)
    written = _unique(_table_name(t) for t in written_nodes)
    ctes = _unique(cte.alias_or_name for cte in statement.find_all(exp.CTE))
    cte_names = {name.lower() for name in ctes}
    read = _unique(
        _table_name(t)
        for t in statement.find_all(exp.Table)
        if t.name
        and not any(t is w for w in written_nodes)
        and not (not t.db and t.name.lower() in cte_names)
    )
    columns = _columns(statement, written_nodes, schema or {})
    return SqlLineage(
        statement_type=_statement_type(statement),
        tables_read=tuple(sorted(read)),
        tables_written=tuple(written),
        columns_used=tuple(sorted(columns)),
        ctes=tuple(ctes),
        dialect=dialect,
    )


def _parse_one(sql: str, dialect: str) -> exp.Expr:
    try:
        parsed = [e for e in sqlglot.parse(sql, read=dialect) if e is not None]
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        where = f" at line {first.get('line')}, column {first.get('col')}" if first else ""
        text = first.get("description") or str(exc).splitlines()[0]
        # sqlglot prints the whole token object; its text is what the user wrote.
        text = re.sub(r"<Token token_type: [^,]+, text: ([^,]*),[^>]*>", r"'\1'", str(text))
        raise ValueError(f"SQL syntax error{where}: {text}") from None
    except TokenError as exc:
        raise ValueError(f"SQL syntax error: {exc}") from None
    except ValueError as exc:  # sqlglot's message for an unknown dialect lists the known ones
        raise ValueError(f"cannot parse as dialect '{dialect}': {exc}") from None
    if not parsed:
        raise ValueError("no SQL statement given")
    if len(parsed) != 1:
        raise ValueError(f"expected exactly one SQL statement, got {len(parsed)}")
    statement = parsed[0]
    if isinstance(statement, (exp.Condition, exp.Alias)):
        # A bare expression parses (`SELEC x` reads as the alias `SELEC AS x`): no statement.
        raise ValueError(
            f"not a SQL statement: {statement.sql(dialect)[:60]!r}; expected SELECT, INSERT, "
            "UPDATE, DELETE, MERGE, CREATE, ..."
        )
    if isinstance(statement, exp.Command):
        # sqlglot falls back to an opaque Command for statements it cannot model.
        raise ValueError(f"unsupported statement for lineage: {statement.sql(dialect)[:60]}")
    return statement


def _statement_type(statement: exp.Expr) -> str:
    if isinstance(statement, exp.Create):
        kind = str(statement.args.get("kind") or "").lower()
        if kind == "table" and isinstance(statement.expression, exp.Query):
            return "create_table_as"
        return f"create_{kind}" if kind else "create"
    if isinstance(statement, exp.Drop):
        kind = str(statement.args.get("kind") or "").lower()
        return f"drop_{kind}" if kind else "drop"
    if isinstance(statement, exp.Query):  # SELECT and set operations (UNION, ...)
        return "select"
    return statement.key.lower()


def _written(statement: exp.Expr) -> list[exp.Table]:
    if isinstance(statement, exp.Query):
        return []
    if isinstance(statement, exp.Drop) and statement.args.get("tables"):
        return [t for t in statement.args["tables"] if isinstance(t, exp.Table)]
    target = statement.this if "this" in statement.arg_types else None
    if isinstance(target, exp.Schema):  # INSERT INTO t (a, b) / CREATE TABLE t (a INT)
        target = target.this
    return [target] if isinstance(target, exp.Table) else []


def _table_name(table: exp.Table) -> str:
    return ".".join(part for part in (table.catalog, table.db, table.name) if part)


def _unique(items: Iterable[str]) -> list[str]:
    """Items without repeats, first occurrence order kept."""
    return list(dict.fromkeys(items))


def _columns(statement: exp.Expr, written: list[exp.Table], schema: Schema) -> set[str]:
    used: set[str] = set()
    try:
        scopes = traverse_scope(statement)
    except Exception:  # sqlglot cannot scope some exotic statements; keep tables, skip columns
        scopes = []
    for scope in scopes:
        for column in scope.columns:
            # A scope also lists its subqueries' correlated columns: count each column once,
            # in the query it is written in.
            if column.find_ancestor(exp.Select) not in (None, scope.expression):
                continue
            resolved = _resolve(column.name, column.table, scope, schema)
            if resolved is not None:
                used.add(resolved)
    if isinstance(statement, exp.Update | exp.Delete | exp.Merge):
        used |= _dml_columns(statement, written)
    if isinstance(statement, exp.Insert) and isinstance(statement.this, exp.Schema) and written:
        target = _table_name(written[0])
        used |= {f"{target}.{c.name}" for c in statement.this.expressions}
    return used


def _resolve(name: str, alias: str, scope: Scope | None, schema: Schema) -> str | None:
    """`table.column` for a column seen in `scope`, following CTEs and subqueries to their
    base table; None when it is computed there (its inputs are counted in that scope)."""
    while scope is not None and alias and alias not in scope.sources:
        scope = scope.parent  # a correlated reference to an outer query
    if scope is None:
        return f"{alias}.{name}" if alias else name
    if alias:
        source = scope.sources[alias]
    else:
        sources = [s for s in scope.selected_sources.values() if s[1] is not None]
        candidates = [s for _, s in sources if _has_column(s, name, schema)]
        if len(sources) == 1:
            source = sources[0][1]
        elif len(candidates) == 1:
            source = candidates[0]
        else:
            return name
    if isinstance(source, exp.Table):
        return f"{_table_name(source)}.{name}"
    if isinstance(source, Scope) and isinstance(source.expression, exp.Select):
        for projection in source.expression.selects:
            if projection.alias_or_name == name and not isinstance(projection, exp.Star):
                inner = projection.unalias()
                if isinstance(inner, exp.Column):
                    return _resolve(inner.name, inner.table, source, schema)
                return None
        if source.expression.is_star:  # SELECT * FROM base: the column passes through
            return _resolve(name, "", source, schema)
    return None


def _has_column(source: object, name: str, schema: Schema) -> bool:
    if isinstance(source, Scope) and isinstance(source.expression, exp.Select):
        return name in {p.alias_or_name for p in source.expression.selects}
    if not isinstance(source, exp.Table):
        return False
    columns = schema.get(_table_name(source)) or schema.get(source.name) or ()
    return name.lower() in {c.lower() for c in columns}


def _dml_columns(statement: exp.Expr, written: list[exp.Table]) -> set[str]:
    """Columns of UPDATE SET/WHERE, DELETE WHERE and MERGE clauses, which lie outside any
    query scope; unqualified ones belong to the target table."""
    tables = {t.alias_or_name: t for t in statement.find_all(exp.Table) if _outside_query(t)}
    target = _table_name(written[0]) if written else None
    found: set[str] = set()
    for column in statement.find_all(exp.Column):
        if not _outside_query(column):
            continue
        table = tables.get(column.table) if column.table else None
        if table is not None:
            found.add(f"{_table_name(table)}.{column.name}")
        elif target and not column.table:
            found.add(f"{target}.{column.name}")
        else:
            found.add(f"{column.table}.{column.name}" if column.table else column.name)
    return found


def _outside_query(node: exp.Expr) -> bool:
    return node.find_ancestor(exp.Query) is None
