"""Column-level lineage of a dbt model, computed with sqlglot over its compiled SQL.

The caller passes the compiled SELECT of a model and the warehouse schema
(``{"schema.table": {column: type}}``); nothing here talks to dbt or the warehouse.
sqlglot's ``qualify`` expands stars (``*``, ``t.*``, joins, ``USING``) and attaches
every column to its source; we then walk sqlglot's scopes (CTEs, subqueries, set
operations) down to base tables, classifying each hop.

Edge kinds, for an output column ``target`` and a base column ``source``:

* ``passthrough``: ``source`` reaches ``target`` unchanged and under the same name
  (also through CTEs/subqueries, and the column merged by ``JOIN ... USING``).
* ``rename``: unchanged value, different name (``amount AS amount_eur``).
* ``transformation``: any expression on the path: ``CASE``, arithmetic, casts,
  functions, scalar subqueries, and the navigation window functions (``lag``,
  ``lead``, ``first_value``, ``last_value``, ``nth_value``: they pick one row's value).
  Columns in a window's ``PARTITION BY`` / ``ORDER BY`` are ``transformation`` sources
  of that output column too: they decide its value (``row_number()``, running totals).
* ``aggregation``: the column is an argument of an aggregate function (``sum``,
  ``count``, ``count(distinct)``, ``avg``, ``min``, ``max``...), also when used as a
  window function (``sum(x) OVER (...)`` is a running total: it combines many rows),
  and the columns of an aggregate's ``FILTER (WHERE ...)``.
* ``filter`` / ``join_key``: columns of ``WHERE``, ``HAVING``, ``QUALIFY`` (filter)
  and ``JOIN ... ON`` / ``USING`` (join_key), in the model or any CTE/subquery of it.

On a path through several scopes the strongest hop wins
(aggregation > transformation > unchanged); an unchanged path is a passthrough when
the base column's name equals the output name, else a rename.

Filter and join-key columns have no single target: they decide which rows exist, so
they are attached to EVERY output column of the model. That makes "which upstream
columns does column C depend on, and how" answerable from the edges of C alone, and
"which upstream columns does the model depend on" is the union over all edges.
The same (source, target) pair can appear with several kinds (e.g. a UNION ALL that
passes ``amount`` in one branch and doubles it in another); each kind is kept.

Not edges: ``GROUP BY`` / ``ORDER BY`` / ``LIMIT`` columns that are not projected.
Columns whose origin cannot be resolved (unknown table, unknown column, table
functions) yield no edge. ``ValueError`` (one line, sqlglot's message) is raised for
a syntax error, a statement that is not one query, or a reference to an alias the
query never defines (``select z.* from t``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope, find_all_in_scope, walk_in_scope
from sqlglot.schema import MappingSchema

EdgeKind = Literal["passthrough", "rename", "transformation", "aggregation", "filter", "join_key"]

# How one hop changes a value; "direct" becomes passthrough or rename at the end.
_Hop = Literal["direct", "transformation", "aggregation"]
_HOP_RANK: dict[_Hop, int] = {"direct": 0, "transformation": 1, "aggregation": 2}

# AggFunc subclasses in sqlglot that return one row's value rather than combining rows.
_NAVIGATION = (exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)


@dataclass(frozen=True, order=True)
class ColumnRef:
    """A column of a table or model."""

    table: str
    """Table name as keyed in the schema (``"raw_orders.orders"``) or the model name."""
    column: str
    """Column name (lower case, as the warehouse reports it)."""


@dataclass(frozen=True)
class ColumnEdge:
    """One upstream column feeding one column of the model."""

    source: ColumnRef
    """The upstream (base table) column."""
    target: ColumnRef
    """The column of the model."""
    kind: EdgeKind
    """How ``source`` contributes to ``target`` (see the module docstring)."""


_Origin = tuple[ColumnRef, _Hop]


def column_lineage(
    sql: str,
    target_table: str,
    schema: dict[str, dict[str, str]],
    dialect: str = "duckdb",
    catalog: str | None = "lake",
) -> list[ColumnEdge]:
    """For every output column of the SELECT `sql` (the compiled SQL of model
    `target_table`), the upstream columns it comes from and how.

    `schema` maps ``"schema.table"`` (lower case) to ``{column: type}``; a database
    part equal to `catalog` is stripped from relations in `sql` so they match it.
    Returns edges ordered by output column, then source. Raises ``ValueError`` on a
    syntax error or a statement that is not a query.
    """
    root, known = _prepare(sql, schema, dialect, catalog)
    names = _output_names(root)
    tracer = _Tracer(root, known)
    edges: set[ColumnEdge] = set()
    order: dict[str, int] = {}
    for index, name in enumerate(names):
        if name == "*":  # a star sqlglot could not expand (unknown table)
            continue
        order.setdefault(name, index)
        target = ColumnRef(target_table, name)
        for ref, hop in tracer.output(root, index, name, frozenset()):
            edges.add(ColumnEdge(ref, target, _final_kind(hop, ref.column, name)))
    conditions = tracer.conditions()
    for name in order:
        target = ColumnRef(target_table, name)
        edges.update(ColumnEdge(ref, target, kind) for ref, kind in conditions)
    return sorted(edges, key=lambda e: (order[e.target.column], e.source, e.kind))


def model_columns(
    sql: str,
    schema: dict[str, dict[str, str]],
    dialect: str = "duckdb",
    catalog: str | None = "lake",
) -> list[str]:
    """The output column names of the SELECT `sql`, in order, after star expansion.

    A star over a table missing from `schema` cannot be expanded and is left out.
    """
    root, _ = _prepare(sql, schema, dialect, catalog)
    return [name for name in _output_names(root) if name != "*"]


def _prepare(
    sql: str, schema: dict[str, dict[str, str]], dialect: str, catalog: str | None
) -> tuple[Scope, dict[str, set[str]]]:
    """Parse, strip the catalog, qualify with the schema; return the root scope and
    the known tables as ``{"schema.table": {columns}}``."""
    try:
        statements = [s for s in sqlglot.parse(sql, dialect=dialect) if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        where = f" (line {first.get('line')}, col {first.get('col')})" if first else ""
        message = first.get("description") or str(error)
        raise ValueError(f"invalid SQL: {_one_line(str(message))}{where}") from None
    except TokenError as error:
        raise ValueError(f"invalid SQL: {_one_line(str(error))}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise ValueError("column lineage needs exactly one SELECT statement")
    expression = statements[0]
    if catalog:
        for table in expression.find_all(exp.Table):
            if table.catalog.lower() == catalog.lower():
                table.set("catalog", None)

    known = {k.lower(): {c.lower() for c in cols} for k, cols in schema.items()}
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for key, columns in schema.items():
        db, _, name = key.lower().rpartition(".")
        if not db or "." in db:
            raise ValueError(f"schema keys must be 'schema.table', got {key!r}")
        nested.setdefault(db, {})[name] = {c.lower(): t for c, t in columns.items()}
    try:
        qualified = qualify(
            expression,
            dialect=dialect,
            schema=MappingSchema(dict[str, object](nested), dialect=dialect),
            validate_qualify_columns=False,  # unknown tables must not raise
            quote_identifiers=False,
            identify=False,
        )
    except SqlglotError as error:
        raise ValueError(f"cannot resolve SQL: {_one_line(str(error))}") from None
    root = build_scope(qualified)
    if root is None:
        raise ValueError("column lineage needs a SELECT statement")
    return root, known


def _one_line(message: str) -> str:
    """sqlglot messages can carry a highlighted multi-line excerpt; keep one line."""
    return " ".join(message.split())


def _output_names(scope: Scope) -> list[str]:
    """Projection names of a scope (the left branch's for a set operation)."""
    query = scope.expression
    return list(query.named_selects) if isinstance(query, exp.Query) else []


def _final_kind(hop: _Hop, source_column: str, target_column: str) -> EdgeKind:
    """Turn the strongest hop of a path into the public edge kind."""
    if hop == "direct":
        return "passthrough" if source_column == target_column else "rename"
    return hop


def _stronger(a: _Hop, b: _Hop) -> _Hop:
    """The stronger of two hops (aggregation > transformation > direct)."""
    return a if _HOP_RANK[a] >= _HOP_RANK[b] else b


def _local_hop(column: exp.Column, projection: exp.Expr) -> _Hop:
    """How `column` reaches the value of `projection` (a select item) in one scope."""
    node: exp.Expr | None = column.parent
    hop: _Hop = "direct"
    while node is not None and node is not projection.parent:
        if isinstance(node, exp.AggFunc) and not isinstance(node, _NAVIGATION):
            return "aggregation"
        if isinstance(node, exp.Filter):  # count(*) FILTER (WHERE c): c picks aggregated rows
            return "aggregation"
        if not isinstance(node, (exp.Alias, exp.Paren)) and not _is_using_merge(node):
            hop = "transformation"
        node = node.parent
    return hop


def _is_using_merge(node: exp.Expr) -> bool:
    """True for the COALESCE(a.k, b.k) AS k that qualify writes for ``JOIN ... USING (k)``.

    The warehouse returns the join key once, unchanged, so it is a passthrough.
    """
    if not isinstance(node, exp.Coalesce) or not isinstance(node.parent, exp.Alias):
        return False
    args = [node.this, *node.expressions]
    name = node.parent.alias
    return all(isinstance(a, exp.Column) and a.name == name for a in args)


class _Tracer:
    """Walks scopes from an output column down to base-table columns."""

    def __init__(self, root: Scope, known: dict[str, set[str]]) -> None:
        self._root = root
        self._known = known
        # Queries that start a child scope (subqueries inside expressions) -> scope.
        self._scopes = {id(s.expression): s for s in root.traverse()}
        # Memo keeps wide CTE chains linear instead of exponential in depth.
        self._memo: dict[tuple[int, int], set[_Origin]] = {}
        self._cycles_cut = 0

    def output(
        self, scope: Scope, index: int, name: str, stack: frozenset[tuple[int, int]]
    ) -> set[_Origin]:
        """Origins of the `index`-th projection (named `name`) of `scope`."""
        key = (id(scope), index)
        if key in stack:  # a recursive CTE referencing itself: stop, nothing new there
            self._cycles_cut += 1
            return set()
        if key in self._memo:
            return self._memo[key]
        inner = stack | {key}
        cuts_before = self._cycles_cut
        origins: set[_Origin] = set()
        query = scope.expression
        if isinstance(query, exp.SetOperation):
            by_name = bool(query.args.get("by_name"))
            for branch in scope.set_operation_scopes:
                position = index
                if by_name:
                    branch_names = _output_names(branch)
                    if name not in branch_names:
                        continue
                    position = branch_names.index(name)
                origins |= self.output(branch, position, name, inner)
        elif isinstance(query, exp.Select) and index < len(query.selects):
            projection = query.selects[index]
            origins = self.expression(scope, projection, projection, inner)
        if self._cycles_cut == cuts_before:  # a result cut short by a cycle may be partial
            self._memo[key] = origins
        return origins

    def expression(
        self,
        scope: Scope,
        node: exp.Expr,
        projection: exp.Expr | None,
        stack: frozenset[tuple[int, int]],
    ) -> set[_Origin]:
        """Origins of every column used in `node`, an expression of `scope`.

        With a `projection`, each column's hop is classified against it; without one
        (conditions) every hop counts as a transformation and the caller relabels it.
        """
        origins: set[_Origin] = set()
        for column in find_all_in_scope(node, exp.Column):
            hop = _local_hop(column, projection) if projection is not None else "transformation"
            for ref, deeper in self._resolve(scope, column, stack):
                origins.add((ref, _stronger(hop, deeper)))
        for child in walk_in_scope(node):
            # Subqueries inside the expression (scalar, IN, EXISTS): their projections
            # feed this expression, which at least transforms them.
            sub = self._scopes.get(id(child)) if child is not node else None
            if sub is None or not isinstance(child, exp.Query):
                continue
            for index, name in enumerate(_output_names(sub)):
                for ref, deeper in self.output(sub, index, name, stack):
                    origins.add((ref, _stronger("transformation", deeper)))
        return origins

    def _resolve(
        self, scope: Scope, column: exp.Column, stack: frozenset[tuple[int, int]]
    ) -> set[_Origin]:
        """Origins of a qualified column; empty when it cannot be resolved."""
        alias = column.table
        if not alias:  # qualify could not attach it to a source (unknown table)
            return set()
        current: Scope | None = scope
        while current is not None and alias not in current.sources:
            current = current.parent  # correlated subquery: the alias is an outer one
        if current is None:
            return set()
        source = current.sources[alias]
        name = column.name
        if isinstance(source, exp.Table):
            table = ".".join(p for p in (source.catalog, source.db, source.name) if p).lower()
            if name not in self._known.get(table, set()):
                return set()
            return {(ColumnRef(table, name), "direct")}
        names = _output_names(source)
        if name not in names:
            return set()
        return self.output(source, names.index(name), name, stack)

    def conditions(self) -> set[tuple[ColumnRef, EdgeKind]]:
        """Base columns used by WHERE/HAVING/QUALIFY (filter) and JOIN ON/USING (join_key)."""
        found: set[tuple[ColumnRef, EdgeKind]] = set()
        for scope in self._root.traverse():
            query = scope.expression
            if not isinstance(query, exp.Select):
                continue
            parts: list[tuple[exp.Expr | None, EdgeKind]] = [
                (query.args.get(arg), "filter") for arg in ("where", "having", "qualify")
            ]
            for join in query.args.get("joins") or []:
                parts.append((join.args.get("on"), "join_key"))
                # qualify rewrites USING into ON; left-over USING names are unresolvable.
            for part, kind in parts:
                if part is None:
                    continue
                for ref, _ in self.expression(scope, part, None, frozenset()):
                    found.add((ref, kind))
        return found
