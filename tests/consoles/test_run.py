"""Running consoles against a real warehouse: read-only SQL, assertions, the table
`consoles.<name>`, export files, and the run history."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headwater.config import Project
from headwater.config.consoles import ConsoleAssertions, ConsoleConfig, ConsoleSchedule
from headwater.consoles import (
    ConsoleNotFoundError,
    check_assertions,
    check_expression,
    console_read_tables,
    console_runs,
    execute_console,
    last_result_run,
    last_runs,
    next_run_at,
    record_finish,
    record_start,
)
from headwater.consoles.assertions import InvalidExpressionError
from headwater.store import MetadataStore
from tests.consoles.shop import ORDERS, count, load_orders, write_shop


@pytest.fixture
def shop(tmp_path: Path) -> Project:
    return write_shop(tmp_path / "shop")


def test_a_console_replaces_its_table_and_export_and_keeps_its_first_rows(shop: Project) -> None:
    outcome = execute_console(shop, "revenue")
    assert outcome.status == "succeeded", outcome.error
    assert outcome.row_count == 2
    assert [c["name"] for c in outcome.columns] == ["customer", "revenue", "orders"]
    assert outcome.preview == [["ada", 17.75, 2], ["bob", 20.0, 1]]
    assert [a.passed for a in outcome.assertions] == [True, True, True]
    assert outcome.materialized_table == "consoles.revenue"
    assert count(shop, "SELECT sum(orders) FROM consoles.revenue") == 3
    export = shop.root / "exports" / "revenue.parquet"
    assert outcome.export_path == str(export)
    assert pq.read_table(export).to_pylist()[1] == {
        "customer": "bob", "revenue": pytest.approx(20), "orders": 1
    }

    # The next run replaces both with the new result, leaving no temporary file behind.
    load_orders(shop, [*ORDERS, (4, "cy", "1.00", "2024-04-05 00:00:00")])
    assert execute_console(shop, "revenue").row_count == 3
    assert count(shop, "SELECT count(*) FROM consoles.revenue") == 3
    assert pq.read_table(export).num_rows == 3
    assert sorted(p.name for p in export.parent.iterdir()) == ["revenue.parquet"]


def test_csv_export_is_readable(shop: Project) -> None:
    outcome = execute_console(shop, "orders_csv")
    assert outcome.status == "succeeded", outcome.error
    assert outcome.materialized_table is None
    with open(shop.root / "exports" / "orders.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["order_id"], r["customer"], r["amount"]) for r in rows] == [
        ("1", "ada", "10.50"), ("2", "bob", "20.00"), ("3", "ada", "7.25")
    ]
    assert outcome.preview[0] == [1, "ada", 10.5, "2024-01-02T03:04:05"]


def test_a_failed_assertion_fails_the_run_and_writes_nothing(shop: Project) -> None:
    assert execute_console(shop, "revenue").status == "succeeded"
    before = (shop.root / "exports" / "revenue.parquet").read_bytes()
    load_orders(shop, [*ORDERS, (4, None, "-50.00", "2024-04-05 00:00:00")])
    outcome = execute_console(shop, "revenue")
    assert outcome.status == "failed"
    assert outcome.row_count == 3
    failed = [a.message for a in outcome.failed_assertions]
    assert failed == [
        "not_null customer: 1 row is NULL",
        "expression revenue >= 0: false on 1 row",
    ]
    assert outcome.error == (
        "console 'revenue': 2 of 3 assertions failed: " + "; ".join(failed)
    )
    # The last good result stays published.
    assert count(shop, "SELECT count(*) FROM consoles.revenue") == 2
    assert (shop.root / "exports" / "revenue.parquet").read_bytes() == before


RESULT = pa.table({"revenue": [5.0, None, -1.0], "name": ["a", "b", None]})


@pytest.mark.parametrize(
    ("assertions", "passed", "message"),
    [
        ({"min_rows": 3}, True, "min_rows: got 3, expected at least 3"),
        ({"min_rows": 4}, False, "min_rows: got 3, expected at least 4"),
        ({"max_rows": 3}, True, "max_rows: got 3, expected at most 3"),
        ({"max_rows": 2}, False, "max_rows: got 3, expected at most 2"),
        ({"not_null": ["name"]}, False, "not_null name: 1 row is NULL"),
        (
            {"not_null": ["nope"]}, False,
            "not_null nope: the result has no column 'nope' (its columns: revenue, name)",
        ),
        ({"expression": "revenue > -5 OR revenue IS NULL"}, True,
         "expression revenue > -5 OR revenue IS NULL: true on every row"),
        # NULL is not true: the NULL row fails as well as the negative one.
        ({"expression": "revenue >= 0"}, False, "expression revenue >= 0: false on 2 rows"),
        ({"expression": "length(name) = 1"}, False, "expression length(name) = 1: false on 1 row"),
    ],
)
def test_each_assertion_kind(assertions: dict[str, object], passed: bool, message: str) -> None:
    [result] = check_assertions(RESULT, ConsoleAssertions.model_validate(assertions))
    assert (result.passed, result.message) == (passed, message)


def test_not_null_passes_on_a_full_column() -> None:
    [result] = check_assertions(pa.table({"x": [1, 2]}), ConsoleAssertions(not_null=["x"]))
    assert (result.passed, result.message) == (True, "not_null x: no NULLs")


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("revenue > (SELECT max(amount) FROM raw_shop.orders)", "subqueries and table references"),
        ("revenue > 0; DROP TABLE raw_shop.orders", "one expression, not 2 statements"),
        ("DROP TABLE raw_shop.orders", "not a DROP statement"),
        ("read_csv('/etc/passwd') IS NOT NULL", "function read_csv() is not allowed"),
        ("getenv('HOME') = 'x'", "function getenv() is not allowed"),
        ("revenue >", "does not parse"),
    ],
)
def test_assertion_expressions_are_one_safe_expression(expression: str, reason: str) -> None:
    with pytest.raises(InvalidExpressionError) as raised:
        check_expression(expression)
    assert reason in str(raised.value)
    [result] = check_assertions(RESULT, ConsoleAssertions(expression=expression))
    assert not result.passed and reason in result.message


def test_an_expression_over_an_unknown_column_fails_with_duckdbs_reason() -> None:
    [result] = check_assertions(RESULT, ConsoleAssertions(expression="profit > 0"))
    assert not result.passed
    assert result.message.startswith("expression profit > 0: cannot be evaluated:")
    assert "profit" in result.message.split(":", 2)[2]


@pytest.mark.parametrize(
    ("console", "reason"),
    [
        ("unsafe", "only read statements"),
        ("twice", "send exactly one statement; this SQL holds 2"),
    ],
)
def test_sql_that_writes_or_holds_two_statements_is_refused(
    shop: Project, console: str, reason: str
) -> None:
    outcome = execute_console(shop, console)
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error.startswith(f"console '{console}': ")
    assert reason in outcome.error
    assert outcome.row_count is None
    assert count(shop, "SELECT count(*) FROM raw_shop.orders") == 3


def test_a_console_past_its_timeout_is_stopped_and_names_the_setting(shop: Project) -> None:
    slow = ConsoleConfig(
        sql="SELECT count(*) AS n FROM range(1000000000) a, range(1000000000) b "
        "WHERE a.range * b.range = -1",
        timeout=timedelta(seconds=1),
    )
    consoles = {**shop.config.consoles, "slow": slow}
    project = Project(config=shop.config.model_copy(update={"consoles": consoles}), file=shop.file)
    outcome = execute_console(project, "slow")
    assert outcome.status == "failed"
    assert "longer than 1 s" in (outcome.error or "")
    assert "raise consoles.slow.timeout in project.yml" in (outcome.error or "")


@pytest.fixture
def empty_shop(tmp_path: Path) -> Project:
    return write_shop(tmp_path / "shop", load=False)


def test_a_missing_sql_file_names_the_path(empty_shop: Project) -> None:
    shop = empty_shop
    outcome = execute_console(shop, "lost")
    assert outcome.status == "failed"
    assert str(shop.root / "consoles" / "missing.sql") in (outcome.error or "")
    assert "consoles.lost.file" in (outcome.error or "")


def test_an_unknown_console_lists_the_known_ones(empty_shop: Project) -> None:
    with pytest.raises(ConsoleNotFoundError) as raised:
        execute_console(empty_shop, "revnue")
    assert "known consoles: lost, orders_csv, revenue, twice, unsafe" in str(raised.value)


def test_run_history_keeps_outcomes_newest_first(shop: Project) -> None:
    store = MetadataStore.open(shop)
    try:
        for console in ("revenue", "unsafe", "revenue"):
            run_id = record_start(store, console, f"flow-{console}")
            record_finish(store, run_id, execute_console(shop, console))
        failing = record_start(store, "revenue", None)
        record_finish(store, failing, execute_console(shop, "lost"))
        runs, total = console_runs(store, "revenue", 0, 2)
        assert total == 3 and len(runs) == 2
        assert runs[0].status == "failed" and runs[0].row_count is None
        assert runs[1].status == "succeeded" and runs[1].flow_run_id == "flow-revenue"
        assert runs[1].preview == [["ada", 17.75, 2], ["bob", 20.0, 1]]
        assert runs[1].assertions is not None and runs[1].assertions[0] == {
            "name": "min_rows", "passed": True, "message": "min_rows: got 2, expected at least 1"
        }
        assert runs[1].duration_seconds is not None and runs[1].finished_at is not None
        newest = last_runs(store)
        assert {name: run.status for name, run in newest.items()} == {
            "revenue": "failed", "unsafe": "failed"
        }
        result_run = last_result_run(store, "revenue")
        assert result_run is not None and result_run.id == runs[1].id
    finally:
        store.close()


def test_read_tables_and_next_run(shop: Project) -> None:
    assert console_read_tables(shop, "revenue") == ["raw_shop.orders"]
    assert console_read_tables(shop, "lost") == []
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    lisbon = ConsoleSchedule(cron="0 7 * * *", timezone="America/New_York")
    assert next_run_at("x", lisbon, now) == datetime(2026, 1, 11, 12, 0, tzinfo=UTC)
    hourly = ConsoleSchedule.model_validate({"interval": "1h"})
    assert next_run_at("x", hourly, now) == datetime(2026, 1, 10, 13, 0, tzinfo=UTC)
    assert next_run_at("x", ConsoleSchedule(interval=hourly.interval, enabled=False), now) is None
