"""Column-level lineage of a dbt model (or console), computed with sqlglot over its SQL.

The caller passes the SELECT and the warehouse schema (``{"schema.table": {column: type}}``);
nothing here talks to dbt or the warehouse. sqlglot's ``qualify`` expands stars (``*``,
``t.*``, joins, ``USING``), DuckDB's reuse of select-list aliases (``price * qty AS total,
total * 0.2 AS tax``) and attaches every column to its source; DuckDB's ``COLUMNS(...)`` is
expanded against the known columns first (``columns_star``). An unqualified table name means
``main.<name>``, as in a warehouse session (``USE lake``). We then walk sqlglot's scopes (CTEs,
subqueries, set operations) down to base tables, classifying each hop.

Edge kinds, for an output column ``target`` and a base column ``source``:

* ``passthrough``: ``source`` reaches ``target`` unchanged and under the same name
  (also through CTEs/subqueries, and the column merged by ``JOIN ... USING``).
* ``rename``: unchanged value, different name (``amount AS amount_eur``).
* ``transformation``: any expression on the path: ``CASE``, arithmetic, casts,
  functions, scalar subqueries, and the navigation window functions (``lag``,
  ``lead``, ``first_value``, ``last_value``, ``nth_value``: they pick one row's value).
  Columns in a window's ``PARTITION BY`` / ``ORDER BY`` are ``transformation`` sources
  of that output column too: they decide its value (``row_number()``, running totals).
* ``value_aggregation``: the column is the value argument of an aggregate that returns
  input values themselves rather than a new number: one of them (``min``, ``max``,
  ``any_value``, ``first``, ``last``, ``mode``, ``arg_max``/``arg_min``/``max_by``/``min_by``,
  ``quantile_disc``) or all of them (``string_agg``, ``list``, ``array_agg``,
  ``histogram``, ``approx_top_k``, ...). The value still says what the row said.
* ``aggregation``: the column is an argument of an aggregate that combines rows into a new
  value (``count``, ``count(distinct)``, ``sum``, ``avg``, ``median``, ``stddev``...), also
  as a window function (``sum(x) OVER (...)``), the ordering argument of ``arg_max`` and the
  like, an aggregate's ``ORDER BY``, and the columns of its ``FILTER (WHERE ...)``.
* ``filter`` / ``join_key``: columns of ``WHERE``, ``HAVING``, ``QUALIFY`` (filter)
  and ``JOIN ... ON`` / ``USING`` (join_key).

On a path through several scopes the strongest hop wins (aggregation > value_aggregation >
transformation > unchanged); an unchanged path is a passthrough when the base column's name
equals the output name, else a rename.

Filter and join-key columns decide which rows a query scope has, so they are attached to
every output column of THAT scope, and travel up with the columns derived from it: a
``JOIN ... ON`` inside CTE ``a`` shows under the model columns computed from ``a``'s rows
(its columns, or ``count(*)`` over it), not under a column of a scalar subquery or a
``UNION ... BY NAME`` branch that never reads ``a``. A source's row conditions count for
every column of the scope reading it (``a JOIN b``: ``a``'s filter decides which ``b`` rows
show). On the way up they keep their kind (a filter inside a CTE that an outer query
aggregates is still a ``filter``). The same (source, target) pair can appear with several
kinds (e.g. a UNION ALL that passes ``amount`` in one branch and doubles it in another);
each kind is kept.

Not edges: ``GROUP BY`` / ``ORDER BY`` / ``LIMIT`` columns that are not projected.
Columns whose origin cannot be resolved (unknown table, unknown column, table
functions) yield no edge; ``trace_columns`` says which tables were unknown and which
``COLUMNS(...)`` items could not be expanded. ``ValueError`` (one line, sqlglot's message) is
raised for a syntax error, a statement that is not one query, or a reference to an alias the
query never defines (``select z.* from t``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.qualify_tables import qualify_tables
from sqlglot.optimizer.scope import Scope, build_scope, find_all_in_scope, walk_in_scope
from sqlglot.schema import MappingSchema

from headwater.catalog.columns_star import expand_columns

EdgeKind = Literal[
    "passthrough", "rename", "transformation", "value_aggregation", "aggregation", "filter",
    "join_key",
]
EDGE_KINDS: tuple[EdgeKind, ...] = (
    "passthrough", "rename", "transformation", "value_aggregation", "aggregation", "filter",
    "join_key",
)
"""Every edge kind, in the order the docs list them."""

DEFAULT_SCHEMA = "main"
"""Schema an unqualified table name means in a warehouse session (`USE lake`)."""

# How one hop changes a value ("direct" becomes passthrough or rename at the end), or the
# condition kind of a row-deciding column, which keeps its kind on the way up.
_Hop = Literal["direct", "transformation", "value_aggregation", "aggregation", "filter",
               "join_key"]
_HOP_RANK: dict[_Hop, int] = {
    "direct": 0, "transformation": 1, "value_aggregation": 2, "aggregation": 3,
}
_CONDITIONS: frozenset[_Hop] = frozenset({"filter", "join_key"})

# AggFunc subclasses in sqlglot that return one row's value as window functions.
_NAVIGATION = (exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue)
# Aggregates whose result is made of input values (one, or all of them).
_VALUE_AGGREGATES = (
    exp.Min, exp.Max, exp.AnyValue, exp.First, exp.Last, exp.ArgMax, exp.ArgMin, exp.Mode,
    exp.PercentileDisc, exp.ArrayAgg, exp.ArrayUniqueAgg, exp.ArrayConcatAgg,
    exp.GroupConcat, exp.ApproxTopK, exp.JSONArrayAgg, exp.JSONObjectAgg, exp.ObjectAgg,
)
# The same, for aggregates sqlglot does not model (parsed as anonymous functions).
_VALUE_AGGREGATE_NAMES = frozenset({
    "arbitrary", "histogram", "list", "array_agg", "string_agg", "group_concat", "listagg",
    "any_value", "first", "last", "mode", "arg_max", "arg_min", "max_by", "min_by",
    "arg_max_null", "arg_min_null", "list_distinct", "approx_top_k",
})


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


@dataclass(frozen=True)
class ColumnLineage:
    """The edges of one SQL query, and what it references that could not be resolved."""

    edges: list[ColumnEdge]
    """Ordered by output column, then source, then kind."""
    notes: list[str] = field(default_factory=list)
    """Unknown tables (with close names) and ``COLUMNS(...)`` items left out, one line each."""


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
    return trace_columns(sql, target_table, schema, dialect, catalog).edges


def trace_columns(
    sql: str,
    target_table: str,
    schema: dict[str, dict[str, str]],
    dialect: str = "duckdb",
    catalog: str | None = "lake",
) -> ColumnLineage:
    """`column_lineage`, with notes on what could not be resolved (see `ColumnLineage`)."""
    prepared = _prepare(sql, schema, dialect, catalog)
    root = prepared.root
    names = _output_names(root)
    tracer = _Tracer(root, prepared.known, prepared.using)
    edges: set[ColumnEdge] = set()
    order: dict[str, int] = {}
    for index, name in enumerate(names):
        if name == "*":  # a star sqlglot could not expand (unknown table)
            continue
        order.setdefault(name, index)
        target = ColumnRef(target_table, name)
        for ref, hop in tracer.output(root, index, name, frozenset()):
            edges.add(ColumnEdge(ref, target, _final_kind(hop, ref.column, name)))
    ordered = sorted(edges, key=lambda e: (order[e.target.column], e.source, e.kind))
    return ColumnLineage(ordered, prepared.notes + _unknown_tables(root, prepared.known))


def model_columns(
    sql: str,
    schema: dict[str, dict[str, str]],
    dialect: str = "duckdb",
    catalog: str | None = "lake",
) -> list[str]:
    """The output column names of the SELECT `sql`, in order, after star expansion.

    A star over a table missing from `schema` cannot be expanded and is left out.
    """
    root = _prepare(sql, schema, dialect, catalog).root
    return [name for name in _output_names(root) if name != "*"]


@dataclass(frozen=True)
class _Prepared:
    root: Scope
    known: dict[str, set[str]]
    """``{"schema.table": {columns}}``."""
    using: frozenset[str]
    """Column names of every ``JOIN ... USING`` in the query."""
    notes: list[str]


def _prepare(
    sql: str, schema: dict[str, dict[str, str]], dialect: str, catalog: str | None
) -> _Prepared:
    """Parse, strip the catalog, expand COLUMNS(...), qualify with the schema."""
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
    mapping = MappingSchema(dict[str, object](nested), dialect=dialect)
    ordered = {k.lower(): [c.lower() for c in cols] for k, cols in schema.items()}

    def qualified(tree: exp.Expr) -> exp.Expr:
        return qualify(
            tree,
            dialect=dialect,
            db=DEFAULT_SCHEMA,  # a bare table name is main.<name>, as in a session
            schema=mapping,
            validate_qualify_columns=False,  # unknown tables must not raise
            quote_identifiers=False,
            identify=False,
        )

    def table_columns(table: exp.Table) -> list[str] | None:
        return ordered.get(_relation(table))

    using = frozenset(
        column.name.lower()
        for join in expression.find_all(exp.Join)
        for column in join.args.get("using") or []
    )
    try:
        notes: list[str] = []
        if any(expression.find_all(exp.Columns)):
            # Explicit aliases first, so that expanded columns name their source as the
            # qualified copy does.
            expression = qualify_tables(expression, db=DEFAULT_SCHEMA, dialect=dialect)
            notes = expand_columns(expression, qualified, table_columns)
        tree = qualified(expression)
    except SqlglotError as error:
        raise ValueError(f"cannot resolve SQL: {_one_line(str(error))}") from None
    root = build_scope(tree)
    if root is None:
        raise ValueError("column lineage needs a SELECT statement")
    return _Prepared(root, known, using, notes)


def _relation(table: exp.Table) -> str:
    """``schema.table`` (or ``catalog.schema.table``) of a qualified table, lower case."""
    return ".".join(p for p in (table.catalog, table.db, table.name) if p).lower()


def _unknown_tables(root: Scope, known: dict[str, set[str]]) -> list[str]:
    """One note per table the query reads that the schema does not have, with close names
    (`orders` in a console means main.orders: did you mean raw_orders.orders?)."""
    notes: dict[str, str] = {}
    for scope in root.traverse():
        for source in scope.sources.values():
            if not isinstance(source, exp.Table) or not source.name:
                continue
            relation = _relation(source)
            if relation in known or relation in notes or "." not in relation:
                continue
            same_name = sorted(k for k in known if k.rpartition(".")[2] == source.name.lower())
            close = same_name or difflib.get_close_matches(relation, list(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            bare = " (an unqualified name means main.<name>)" if source.db == DEFAULT_SCHEMA \
                and relation.startswith(f"{DEFAULT_SCHEMA}.") else ""
            notes[relation] = f"table {relation} is not in the warehouse{bare}{hint}"
    return list(notes.values())


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


def _combine(local: _Hop, deeper: _Hop) -> _Hop:
    """The hop of a path: a row-deciding column keeps its kind; else the stronger hop wins
    (aggregation > value_aggregation > transformation > direct)."""
    if deeper in _CONDITIONS:
        return deeper
    if local in _CONDITIONS:
        return local
    return local if _HOP_RANK[local] >= _HOP_RANK[deeper] else deeper


def _aggregate_hop(aggregate: exp.Expr, child: exp.Expr, ordering: bool) -> _Hop:
    """How a column under `aggregate`'s argument `child` reaches its result."""
    if ordering:  # string_agg(x ORDER BY y): y only orders the values
        return "aggregation"
    if isinstance(aggregate, _VALUE_AGGREGATES):
        # arg_max(value, ordering): only the value argument is returned.
        return "value_aggregation" if child is aggregate.this else "aggregation"
    if isinstance(aggregate, exp.Anonymous):
        first = aggregate.expressions[0] if aggregate.expressions else None
        return "value_aggregation" if child is first else "aggregation"
    return "aggregation"


def _is_aggregate(node: exp.Expr) -> bool:
    """An aggregate function (not a navigation window function)."""
    if isinstance(node, exp.Anonymous):  # sqlglot does not model these DuckDB aggregates
        return str(node.name).lower() in _VALUE_AGGREGATE_NAMES
    return isinstance(node, exp.AggFunc) and not isinstance(node, _NAVIGATION)


def _local_hop(column: exp.Column, projection: exp.Expr, using: frozenset[str]) -> _Hop:
    """How `column` reaches the value of `projection` (a select item) in one scope."""
    node: exp.Expr | None = column.parent
    child: exp.Expr = column
    hop: _Hop = "direct"
    ordering = False  # under an ORDER BY of the enclosing call (not its value)
    while node is not None and node is not projection.parent:
        if isinstance(node, exp.Order) and child is not node.this:
            ordering = True
        if isinstance(node, exp.Window):
            ordering = False  # a window's own ORDER BY decides the value (transformation)
        if _is_aggregate(node):
            hop = _combine(_aggregate_hop(node, child, ordering), hop)
            ordering = False
        elif isinstance(node, exp.Filter) and child is not node.this:
            hop = "aggregation"  # count(*) FILTER (WHERE c): c picks the aggregated rows
        elif not isinstance(
            node, (exp.Alias, exp.Paren, exp.Order, exp.Distinct, exp.Filter, exp.IgnoreNulls,
                   exp.RespectNulls)
        ) and not _is_using_merge(node, using):
            hop = _combine("transformation", hop)
        child, node = node, node.parent
    return hop


def _is_using_merge(node: exp.Expr, using: frozenset[str]) -> bool:
    """True for the COALESCE(a.k, b.k) that qualify writes for the unqualified key of
    ``JOIN ... USING (k)`` (also when renamed, ``k AS key``).

    The warehouse returns the join key once, unchanged, so it is a passthrough.
    """
    if not isinstance(node, exp.Coalesce):
        return False
    args = [node.this, *node.expressions]
    names = {a.name.lower() for a in args if isinstance(a, exp.Column)}
    return len(names) == 1 and all(isinstance(a, exp.Column) for a in args) and names <= using


class _Tracer:
    """Walks scopes from an output column down to base-table columns."""

    def __init__(self, root: Scope, known: dict[str, set[str]], using: frozenset[str]) -> None:
        self._root = root
        self._known = known
        self._using = using
        # Queries that start a child scope (subqueries inside expressions) -> scope.
        self._scopes = {id(s.expression): s for s in root.traverse()}
        # Memo keeps wide CTE chains linear instead of exponential in depth. Index -1 is
        # the scope's row conditions.
        self._memo: dict[tuple[int, int], set[_Origin]] = {}
        self._cycles_cut = 0

    def output(
        self, scope: Scope, index: int, name: str, stack: frozenset[tuple[int, int]]
    ) -> set[_Origin]:
        """Origins of the `index`-th projection (named `name`) of `scope`, with the columns
        that decide which rows the scope has."""
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
                        continue  # UNION BY NAME: this branch only pads the column with NULL
                    position = branch_names.index(name)
                origins |= self.output(branch, position, name, inner)
        elif isinstance(query, exp.Select) and index < len(query.selects):
            projection = query.selects[index]
            origins = self.expression(scope, projection, projection, inner)
            origins |= self.rows(scope, inner)
        if self._cycles_cut == cuts_before:  # a result cut short by a cycle may be partial
            self._memo[key] = origins
        return origins

    def rows(self, scope: Scope, stack: frozenset[tuple[int, int]]) -> set[_Origin]:
        """Columns deciding which rows `scope` has: its WHERE/HAVING/QUALIFY (filter) and
        JOIN ON (join_key), and those of the derived tables and CTEs it reads."""
        key = (id(scope), -1)
        if key in stack:
            self._cycles_cut += 1
            return set()
        if key in self._memo:
            return self._memo[key]
        inner = stack | {key}
        cuts_before = self._cycles_cut
        found: set[_Origin] = set()
        query = scope.expression
        if isinstance(query, exp.SetOperation):
            for branch in scope.set_operation_scopes:
                found |= self.rows(branch, inner)
        elif isinstance(query, exp.Select):
            parts: list[tuple[exp.Expr | None, _Hop]] = [
                (query.args.get(arg), "filter") for arg in ("where", "having", "qualify")
            ]
            # qualify rewrites USING into ON; left-over USING names are unresolvable.
            parts += [(join.args.get("on"), "join_key") for join in query.args.get("joins") or []]
            for part, kind in parts:
                if part is None:
                    continue
                for ref, hop in self.expression(scope, part, None, inner):
                    found.add((ref, hop if hop in _CONDITIONS else kind))
            for _, source in scope.selected_sources.values():
                if isinstance(source, Scope):
                    found |= self.rows(source, inner)
        if self._cycles_cut == cuts_before:
            self._memo[key] = found
        return found

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
            hop = (
                _local_hop(column, projection, self._using)
                if projection is not None
                else "transformation"
            )
            for ref, deeper in self._resolve(scope, column, stack):
                origins.add((ref, _combine(hop, deeper)))
        for child in walk_in_scope(node):
            # Subqueries inside the expression (scalar, IN, EXISTS): their projections
            # (and what decides their rows) feed this expression, which transforms them.
            sub = self._scopes.get(id(child)) if child is not node else None
            if sub is None or not isinstance(child, exp.Query):
                continue
            for index, name in enumerate(_output_names(sub)):
                for ref, deeper in self.output(sub, index, name, stack):
                    origins.add((ref, _combine("transformation", deeper)))
            origins |= self.rows(sub, stack)  # EXISTS (SELECT 1 ... WHERE ...)
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
            table = _relation(source)
            if name not in self._known.get(table, set()):
                return set()
            return {(ColumnRef(table, name), "direct")}
        names = _output_names(source)
        if name not in names:
            return set()
        return self.output(source, names.index(name), name, stack)
