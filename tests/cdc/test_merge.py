"""The warehouse side of CDC: merging reduced change batches, evolving table schemas."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from headwater.cdc.batch import SourceColumn, TableChanges
from headwater.cdc.evolution import is_safe_widening, plan_evolution
from headwater.cdc.merge import apply_changes, create_table, evolve, live_columns
from headwater.config import Project
from headwater.warehouse import Warehouse
from tests.conftest import MakeProject

ID = SourceColumn("id", "integer", "INTEGER", "CAST({} AS INTEGER)", primary_key=True)
NAME = SourceColumn("name", "text", "VARCHAR", "CAST({} AS VARCHAR)")
BLOB = SourceColumn("blob", "text", "VARCHAR", "CAST({} AS VARCHAR)")
COLUMNS = [ID, NAME, BLOB]
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def changes(
    rows: list[tuple[str, int, str | None, str | None, list[str]]], truncated: bool = False
) -> TableChanges:
    """(op, id, name, blob, unresolved) rows at LSN 100."""
    return TableChanges(
        table="people",
        columns=COLUMNS,
        rows=pa.table(
            {
                "_hw_op": [r[0] for r in rows],
                "_hw_lsn": pa.array([100] * len(rows), pa.int64()),
                "_hw_committed_at": pa.array([T0] * len(rows), pa.timestamp("us", tz="UTC")),
                "_hw_unresolved": pa.array([r[4] for r in rows], pa.list_(pa.string())),
                "_hw_resolve_from": pa.array([None] * len(rows), pa.list_(pa.string())),
                "id": [str(r[1]) for r in rows],
                "name": pa.array([r[2] for r in rows], pa.string()),
                "blob": pa.array([r[3] for r in rows], pa.string()),
            }
        ),
        truncated=truncated,
    )


@pytest.fixture
def project(make_project: MakeProject) -> Project:
    return make_project("project: {name: merge}\n")


def contents(project: Project) -> list[tuple[object, ...]]:
    with Warehouse(project).reader() as conn:
        return conn.execute(
            "SELECT id, name, blob, _hw_deleted_at IS NOT NULL FROM raw_s.people ORDER BY id"
        ).fetchall()


def merge(project: Project, batch: TableChanges, deletes: str = "hard") -> None:
    with Warehouse(project).writer() as conn:
        conn.begin()
        if not live_columns(conn, "raw_s", "people"):
            create_table(conn, "raw_s", "people", COLUMNS)
        apply_changes(conn, "raw_s", batch, deletes)  # type: ignore[arg-type]
        conn.commit()


def test_upserts_and_hard_deletes(project: Project) -> None:
    merge(
        project, changes([("U", 1, "a", "x", []), ("U", 2, "b", "y", []), ("U", 3, "c", None, [])])
    )
    merge(project, changes([("U", 1, "A", "x", []), ("D", 2, None, None, [])]))
    assert contents(project) == [(1, "A", "x", False), (3, "c", None, False)]


def test_unchanged_values_come_from_the_warehouse_row(project: Project) -> None:
    merge(project, changes([("U", 1, "a", "large value", [])]))
    merge(project, changes([("U", 1, "renamed", None, ["blob"])]))
    assert contents(project) == [(1, "renamed", "large value", False)]


def test_soft_deletes_keep_the_row_marked(project: Project) -> None:
    merge(project, changes([("U", 1, "a", "x", []), ("U", 2, "b", "y", [])]), "soft")
    merge(
        project,
        changes([("D", 1, None, None, ["name", "blob"]), ("D", 9, None, None, ["name", "blob"])]),
        "soft",
    )
    # Key 9 never reached the warehouse: there is nothing to mark.
    assert contents(project) == [(1, "a", "x", True), (2, "b", "y", False)]


def test_truncate_then_later_rows(project: Project) -> None:
    merge(project, changes([("U", 1, "a", "x", []), ("U", 2, "b", "y", [])]))
    merge(project, changes([("U", 5, "e", None, [])], truncated=True))
    assert contents(project) == [(5, "e", None, False)]


def test_a_replayed_batch_changes_nothing(project: Project) -> None:
    batch = changes([("U", 1, "a", "x", []), ("U", 2, "b", None, []), ("D", 3, None, None, [])])
    merge(project, batch)
    once = contents(project)
    merge(project, batch)
    assert contents(project) == once


@pytest.mark.parametrize(
    ("old", "new", "safe"),
    [
        ("INTEGER", "BIGINT", True),
        ("SMALLINT", "INTEGER", True),
        ("BIGINT", "INTEGER", False),
        ("FLOAT", "DOUBLE", True),
        ("DECIMAL(10,2)", "DECIMAL(12,2)", True),
        ("DECIMAL(10,2)", "DECIMAL(12,4)", True),
        ("DECIMAL(10,2)", "DECIMAL(10,3)", False),  # one integer digit fewer
        ("DECIMAL(10,2)", "DECIMAL(10,1)", False),
        ("INTEGER", "VARCHAR", False),
        ("VARCHAR", "INTEGER", False),
        ("INTEGER", "DOUBLE", False),
    ],
)
def test_safe_widening(old: str, new: str, safe: bool) -> None:
    assert is_safe_widening(old, new) is safe


def test_evolution_adds_widens_and_reports_drift(project: Project) -> None:
    with Warehouse(project).writer() as conn:
        create_table(conn, "raw_s", "people", COLUMNS)
        wider = SourceColumn("id", "bigint", "BIGINT", "CAST({} AS BIGINT)", primary_key=True)
        age = SourceColumn("age", "integer", "INTEGER", "CAST({} AS INTEGER)")
        as_int = SourceColumn("name", "integer", "INTEGER", "CAST({} AS INTEGER)")
        plan = evolve(conn, "raw_s", "people", [wider, as_int, BLOB, age])
        live = live_columns(conn, "raw_s", "people")
    assert [c.name for c in plan.added] == ["age"]
    assert [c.name for c in plan.widened] == ["id"]
    assert [(d.column, d.warehouse_type, d.expected_type) for d in plan.drift] == [
        ("name", "VARCHAR", "INTEGER")
    ]
    assert live["id"] == "BIGINT" and live["age"] == "INTEGER" and live["name"] == "VARCHAR"


def test_plan_keeps_columns_the_source_dropped() -> None:
    plan = plan_evolution({"id": "INTEGER", "gone": "VARCHAR"}, [ID])
    assert not plan.changes and not plan.drift
