"""Schema evolution of CDC tables: which source changes the warehouse follows by itself.

Added columns are added. A type change is applied only when every old value fits the new
type exactly (integer and float widening, more decimal digits at the same or a larger
scale); DuckLake allows exactly these promotions. Anything else is drift: recorded, never
cast, and the table waits for a re-snapshot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from headwater.cdc.batch import SourceColumn

_INTEGERS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
_FLOATS = ("FLOAT", "DOUBLE")
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def is_safe_widening(old: str, new: str) -> bool:
    """Whether a warehouse column of type `old` can become `new` without changing a value."""
    old, new = old.upper(), new.upper()
    if old == new:
        return True
    for chain in (_INTEGERS, _FLOATS):
        if old in chain and new in chain:
            return chain.index(new) > chain.index(old)
    old_decimal, new_decimal = _DECIMAL.fullmatch(old), _DECIMAL.fullmatch(new)
    if old_decimal and new_decimal:
        old_precision, old_scale = map(int, old_decimal.groups())
        new_precision, new_scale = map(int, new_decimal.groups())
        # Both the integer digits and the fraction digits must not shrink.
        return new_scale >= old_scale and new_precision - new_scale >= old_precision - old_scale
    return False


def same_type(warehouse: str, expected: str) -> bool:
    """Whether a live warehouse type is the expected one (DuckDB spells some types two ways)."""
    return _normal(warehouse) == _normal(expected)


def _normal(kind: str) -> str:
    kind = re.sub(r"\s+", " ", kind.upper().strip())
    return {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ", "REAL": "FLOAT", "INT": "INTEGER"}.get(
        kind, kind
    )


@dataclass(frozen=True)
class Drift:
    """A source column change the warehouse cannot follow by itself."""

    column: str
    """Column name."""
    warehouse_type: str
    """The column's type in the warehouse now."""
    source_type: str
    """The source's new type."""
    expected_type: str
    """The warehouse type the new source type maps to."""

    def describe(self) -> str:
        """One line for people."""
        return (
            f"column {self.column} changed to {self.source_type} in the source "
            f"({self.expected_type}); the warehouse has {self.warehouse_type}, and that is not "
            "a safe widening"
        )


@dataclass(frozen=True)
class EvolutionPlan:
    """What to do to a warehouse table so the source's columns fit."""

    added: list[SourceColumn] = field(default_factory=list)
    """Source columns the warehouse lacks: add them."""
    widened: list[SourceColumn] = field(default_factory=list)
    """Columns whose type widens safely: change the type."""
    drift: list[Drift] = field(default_factory=list)
    """Incompatible changes: stop applying this table's changes."""

    @property
    def changes(self) -> bool:
        """Whether the table's DDL changes."""
        return bool(self.added or self.widened)


def plan_evolution(live: dict[str, str], source: list[SourceColumn]) -> EvolutionPlan:
    """Compare the live warehouse columns (name -> type) with the source's columns.

    Columns dropped in the source stay in the warehouse (new rows leave them NULL): dropping
    history is for people to decide."""
    plan = EvolutionPlan()
    for column in source:
        current = live.get(column.name)
        if current is None:
            plan.added.append(column)
        elif same_type(current, column.warehouse_type):
            continue
        elif is_safe_widening(current, column.warehouse_type):
            plan.widened.append(column)
        else:
            plan.drift.append(
                Drift(column.name, current, column.source_type, column.warehouse_type)
            )
    return plan
