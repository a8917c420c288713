"""DuckDB's ``COLUMNS(...)`` star expression, expanded into plain columns before lineage.

``COLUMNS('regex')``, ``COLUMNS(*)``, ``COLUMNS(t.*)``, ``COLUMNS(* EXCLUDE (x))``,
``COLUMNS(['a', 'b'])`` and ``COLUMNS(c -> c LIKE 'a%')`` stand for the columns of the
query's FROM sources that match; DuckDB repeats the surrounding select item once per column
(``min(COLUMNS(*))`` is ``min(a), min(b), ...``, each named after its column) and
``*COLUMNS(...)`` unpacks them into one function call. Which columns match is decided by
DuckDB itself, on an empty relation with the candidate names, in an in-memory session with
file and network access disabled: regex (a partial match, like ``regexp_matches``), list and
lambda semantics are exactly the warehouse's.

When the candidates are unknown (a source table missing from the schema) or DuckDB refuses the
expression (a bad regex, nothing matches), the select item is left out and a note says why:
lineage never silently pretends such a column does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import duckdb
from sqlglot import exp
from sqlglot.optimizer.scope import Scope, build_scope

QualifyFn = Callable[[exp.Expr], exp.Expr]
"""Qualifies a copy of the statement (tables, columns, stars) against the schema."""
TableColumns = Callable[[exp.Table], list[str] | None]
"""Columns of a qualified table in order, None when the table is unknown."""

_MARK = "headwater_columns"
"""Meta key that ties a COLUMNS node of the qualified copy to the original one."""
_MAX_ROUNDS = 200
"""Each round expands one select item; a bound keeps hostile SQL from looping long."""


def expand_columns(
    expression: exp.Expr, qualify_fn: QualifyFn, table_columns: TableColumns
) -> list[str]:
    """Replace, in place, every select item of `expression` that uses ``COLUMNS(...)`` by the
    items it stands for; returns notes on the items that could not be expanded (left out)."""
    notes: list[str] = []
    for _ in range(_MAX_ROUNDS):
        marked = list(expression.find_all(exp.Columns))
        if not marked:
            break
        for index, node in enumerate(marked):
            node.meta[_MARK] = index
        root = build_scope(qualify_fn(expression.copy()))
        found = _innermost(root) if root is not None else None
        if found is None:  # only COLUMNS outside select lists (WHERE ...): not expanded
            notes.append("COLUMNS(...) outside a select list is not analysed")
            break
        scope, qualified = found
        original = marked[qualified.meta[_MARK]]
        text = original.sql("duckdb")
        try:
            names = _matching(scope, qualified, table_columns)
        except _UnresolvedError as why:
            notes.append(f"{text} left out: {why}")
            _replace(original, None)
            continue
        _replace(original, names)
    else:
        notes.append(f"more than {_MAX_ROUNDS} COLUMNS(...) items: the rest are not analysed")
    return notes


class _UnresolvedError(Exception):
    """Why a COLUMNS(...) item cannot be expanded."""


def _innermost(root: Scope) -> tuple[Scope, exp.Columns] | None:
    """The first COLUMNS node in a select list, innermost scope first (its sources are then
    fully expanded already)."""
    for scope in root.traverse():
        query = scope.expression
        if not isinstance(query, exp.Select):
            continue
        for projection in query.selects:
            for node in projection.find_all(exp.Columns):
                if node.find_ancestor(exp.Select) is query and _MARK in node.meta:
                    return scope, node
    return None


def _matching(
    scope: Scope, node: exp.Columns, table_columns: TableColumns
) -> list[tuple[str, str]]:
    """(source alias, column) pairs the COLUMNS node stands for, in DuckDB's order."""
    argument = node.this
    only: str | None = None
    if isinstance(argument, exp.Column) and isinstance(argument.this, exp.Star):
        only, argument = argument.table, exp.Star()  # COLUMNS(t.*): the columns of t
    candidates: list[tuple[str, str]] = []
    for alias, (_, source) in scope.selected_sources.items():
        if only is not None and alias != only:
            continue
        if isinstance(source, exp.Table):
            columns = table_columns(source)
            if columns is None:
                name = ".".join(p for p in (source.db, source.name) if p)
                raise _UnresolvedError(f"the columns of {name} are not known")
        elif isinstance(source, Scope) and isinstance(source.expression, exp.Query):
            columns = list(source.expression.named_selects)
            if "*" in columns:
                raise _UnresolvedError(f"the columns of {alias} are not known")
        else:
            raise _UnresolvedError(f"the columns of {alias} are not known")
        candidates += [(alias, column) for column in columns]
    if only is not None and not candidates and only not in scope.selected_sources:
        raise _UnresolvedError(f"no source called {only}")
    unique = list(dict.fromkeys(column for _, column in candidates))
    chosen = _duckdb_match(argument.sql("duckdb"), unique)
    return [(alias, column) for column in chosen for alias, c in candidates if c == column]


def _duckdb_match(argument: str, names: list[str]) -> list[str]:
    """The names DuckDB's ``COLUMNS(argument)`` selects from a relation with `names`."""
    if not names:
        raise _UnresolvedError("its sources have no columns")
    relation = ", ".join(f"NULL AS {exp.to_identifier(n, quoted=True).sql('duckdb')}"
                         for n in names)
    # No files, no network, no extensions: the argument is only matched against names.
    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False, "threads": 1, "lock_configuration": True,
    }
    try:
        with duckdb.connect(config=config) as conn:
            cursor = conn.execute(f"SELECT COLUMNS({argument}) FROM (SELECT {relation}) LIMIT 0")
            return [column[0] for column in cursor.description or ()]
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0].removeprefix("Binder Error: ")
        raise _UnresolvedError(message) from None


def _replace(node: exp.Columns, columns: list[tuple[str, str]] | None) -> None:
    """Put the expansion of `node` (None: nothing) in place of its select item."""
    if node.args.get("unpack"):  # *COLUMNS(...) inside a call: the columns become arguments
        parent, key = node.parent, node.arg_key
        values = parent.args.get(key) if parent is not None and key else None
        if parent is not None and key and isinstance(values, list):
            at = next(i for i, v in enumerate(values) if v is node)
            spliced = [exp.column(c, table=a) for a, c in columns or []]
            parent.set(key, values[:at] + spliced + values[at + 1:])
            return
    item: exp.Expr = node
    while item.parent is not None and not isinstance(item.parent, exp.Select):
        item = item.parent
    select = item.parent
    if not isinstance(select, exp.Select):
        node.replace(exp.Null())
        return
    expanded = [_item_for(item, node, alias, column) for alias, column in columns or []]
    items = select.expressions
    at = next(i for i, v in enumerate(items) if v is item)
    select.set("expressions", items[:at] + expanded + items[at + 1:])


def _item_for(item: exp.Expr, node: exp.Columns, alias: str, column: str) -> exp.Expr:
    """One select item of the expansion: `item` with `node` replaced by `alias.column`,
    named as DuckDB names it (the column, or the item's alias with ``\\1`` groups filled)."""
    marker = node.meta.get(_MARK)
    copy = item.copy()
    target = next(n for n in copy.find_all(exp.Columns) if n.meta.get(_MARK) == marker)
    replacement = exp.column(column, table=alias)
    if target is copy:
        return exp.alias_(replacement, column)
    target.replace(replacement)
    inner = copy.this if isinstance(copy, exp.Alias) else copy
    name = column
    if isinstance(copy, exp.Alias):
        name = _alias_name(copy.alias, node, column)
    return exp.alias_(inner, name)


def _alias_name(alias: str, node: exp.Columns, column: str) -> str:
    """DuckDB fills ``\\1``-style groups of a COLUMNS('regex') item's alias from the match."""
    pattern = node.this
    if "\\" not in alias or not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return alias
    try:
        match = re.search(pattern.this, column)
        return match.expand(alias) if match else alias
    except (re.error, IndexError):
        return alias
