"""Column lineage across models: walk a column up to raw columns or down to what uses it.

`column_lineage` answers one model at a time; this module computes it for every model of a
manifest once (compiled SQL plus the warehouse's column types) and walks the result across
models, cycle-safe, as trees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import duckdb

from headwater.catalog.column_lineage import ColumnEdge, ColumnRef, EdgeKind, column_lineage
from headwater.catalog.manifest import Manifest, ManifestNode
from headwater.errors import TerminalError
from headwater.warehouse import table_columns


@dataclass(frozen=True)
class ColumnTree:
    """A column with the columns it comes from (upstream) or feeds (downstream) below it."""

    column: ColumnRef
    """This column (`table` is `schema.table`)."""
    kind: EdgeKind | None = None
    """How this column relates to its parent in the walk (None at the root)."""
    children: tuple[ColumnTree, ...] = ()
    """Next columns in the walk's direction."""
    cycle: bool = False
    """Already on the path from the root: not expanded again."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready nested dict."""
        return {
            "table": self.column.table,
            "column": self.column.column,
            "kind": self.kind,
            "cycle": self.cycle,
            "children": [child.as_dict() for child in self.children],
        }


def warehouse_schema(conn: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """`schema.table` -> {column: type} for every table and view of the lake, lower-cased as
    column edges name them."""
    return {
        f"{schema}.{table}".lower(): {column.lower(): kind for column, kind in columns.items()}
        for (schema, table), columns in table_columns(conn).items()
    }


def relation_of(node: ManifestNode) -> str:
    """`schema.table` of a dbt node, as column edges name it."""
    return f"{node.schema}.{node.table}".lower()


class ColumnGraph:
    """Column edges of every model of a manifest, indexed both ways."""

    def __init__(
        self,
        manifest: Manifest | None,
        schema: dict[str, dict[str, str]],
        extra: Iterable[ColumnEdge] = (),
    ) -> None:
        self.edges: list[ColumnEdge] = []
        self.problems: dict[str, str] = {}
        """Model -> why its SQL could not be analysed (it then has no edges)."""
        for node in manifest.of_type("model") if manifest else ():
            if not node.compiled_code:
                self.problems[node.name] = "not compiled yet (run `headwater dbt build`)"
                continue
            try:
                self.edges += column_lineage(node.compiled_code, relation_of(node), schema)
            except ValueError as exc:
                self.problems[node.name] = str(exc)
        self.edges += extra  # edges of other SQL than models' (consoles)
        self._by_target: dict[ColumnRef, list[ColumnEdge]] = defaultdict(list)
        self._by_source: dict[ColumnRef, list[ColumnEdge]] = defaultdict(list)
        for edge in self.edges:
            self._by_target[edge.target].append(edge)
            self._by_source[edge.source].append(edge)

    def upstream(self, column: ColumnRef) -> ColumnTree:
        """Where `column` comes from, down to raw columns."""
        return self._walk(column, None, self._by_target, lambda e: e.source, frozenset())

    def downstream(self, column: ColumnRef) -> ColumnTree:
        """Every column built from `column`, transitively."""
        return self._walk(column, None, self._by_source, lambda e: e.target, frozenset())

    def require(self, column: ColumnRef, schema: dict[str, dict[str, str]]) -> None:
        """Raise a TerminalError naming the known columns when `column` does not exist."""
        columns = schema.get(column.table)
        if columns is None:
            raise TerminalError(f"no table {column.table} in the warehouse")
        if column.column not in columns:
            raise TerminalError(
                f"{column.table} has no column '{column.column}'; its columns: "
                + ", ".join(columns)
            )

    def _walk(
        self,
        column: ColumnRef,
        kind: EdgeKind | None,
        index: dict[ColumnRef, list[ColumnEdge]],
        next_of: Any,
        path: frozenset[ColumnRef],
    ) -> ColumnTree:
        if column in path:
            return ColumnTree(column, kind, cycle=True)
        children = tuple(
            self._walk(next_of(edge), edge.kind, index, next_of, path | {column})
            for edge in sorted(index.get(column, ()), key=lambda e: (next_of(e), e.kind))
        )
        return ColumnTree(column, kind, children)
